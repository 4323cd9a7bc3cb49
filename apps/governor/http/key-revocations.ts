import { Injectable } from '@nestjs/common';

// Revoking a key ends what it has open, not only its next request. Whoever revokes a key
// says so here; whatever holds a long-lived request open for a key (event streams) listens
// and ends it. In-process: a stream on another governor notices when it next checks its key.

export type RevokedKeys = { kind: 'agent'; orgId: string; agentId: string } | { kind: 'admin'; name: string };

@Injectable()
export class KeyRevocations {
  private readonly listeners = new Set<(revoked: RevokedKeys) => void>();

  /** Calls `listener` on every revocation until the returned function is called. */
  onRevoked(listener: (revoked: RevokedKeys) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  revoked(revoked: RevokedKeys): void {
    for (const listener of this.listeners) listener(revoked);
  }
}
