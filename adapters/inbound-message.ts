/** One message as a source hands it to the pipeline: the raw data, where it was, how to acknowledge it. */
export interface InboundMessage {
  readonly data: unknown;
  /** The message's position in its source (a stream entry id); absent, the pipeline numbers arrivals. */
  readonly position?: string;
  /** Called once the message's outcome is final (absent where the source has nothing to acknowledge). */
  readonly ack?: () => void;
  /** From a journal: each profile's place in its person's line (`[key, seq]`, one per profile, or null). */
  readonly turns?: ReadonlyArray<{ readonly key: string; readonly seq: number } | null>;
  /** From a feed shared by several flows: this flow is to dead-letter it, not hold it (see `Envelope.shed`). */
  readonly shed?: boolean;
}
