-- 046: the reconciler reads a Permit2 payment's nonce from Permit2, not from the token's EIP-3009 state.

ALTER TABLE settlement_open_payments ADD COLUMN transfer text NOT NULL DEFAULT 'eip3009' CHECK (transfer IN ('eip3009', 'permit2'));
