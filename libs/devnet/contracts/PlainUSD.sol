// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

// A plain 6-decimal ERC-20 with neither EIP-3009 nor EIP-2612: the kind of token that can
// only be paid by signature through Permit2, after the holder approved Permit2 on chain.
contract PlainUSD is ERC20 {
    address public immutable minter;

    error NotMinter();

    constructor() ERC20("Plain USD", "PUSD") {
        minter = msg.sender;
    }

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    function mint(address to, uint256 amount) external {
        if (msg.sender != minter) revert NotMinter();
        _mint(to, amount);
    }
}
