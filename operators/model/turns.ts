/**
 * Per-person order across processes. When the journal appends an update, it numbers it in its
 * person's line: the `seq`-th update for identity `key` (the same identity `selectIdentity` picks). An
 * update may go out only once every earlier one of its line is finished (settled, whatever the outcome),
 * wherever it was handled; finishing is recorded in the same step as the acknowledgement. See
 * `keepOrder` and the README's "Order per person".
 */
export interface Turn {
  /** The identity key (`email:ann@example.com`). */
  readonly key: string;
  /** 1 for the person's first journaled update, 2 for the next... */
  readonly seq: number;
}

/** A message's turns, one per profile it holds (`null` for a profile without a usable identity). */
export type Turns = ReadonlyArray<Turn | null>;
