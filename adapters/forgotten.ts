/** What one flow's stores held about a person, removed by `forget` (a report, counted by kind). */
export interface FlowForgotten {
  readonly dedupeMarks: number;
  /** The delivery log's entries: the position, the audiences the person is in, the flow's record of their line. */
  readonly deliveryLog: number;
  readonly historyRows: number;
}
