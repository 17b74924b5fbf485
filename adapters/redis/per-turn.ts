/** One call waiting for its turn's batch. */
interface Waiting<A, R> {
  readonly argument: A;
  readonly resolve: (result: R) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * A function whose calls made in one turn of the event loop run as one: `run` gets every argument, in
 * call order, and answers one result per argument, in the same order (a failure fails every call of the
 * batch). What a page of a stream, or a burst of a feed, asks of Redis goes as one command, not one per
 * update: fewer commands for Redis to parse and run, fewer replies for this process to decode. A call
 * made alone is sent alone, as soon as the code that made it yields (no timer, no added wait).
 *
 * @example
 * const acquire = perTurn((requests: readonly Request[]) => acquireAll(requests));
 */
export const perTurn = <A, R>(run: (batch: readonly A[]) => Promise<readonly R[]>): ((argument: A) => Promise<R>) => {
  let waiting: Array<Waiting<A, R>> = [];
  const flush = (): void => {
    const batch = waiting;
    waiting = [];
    let answer: Promise<readonly R[]>;
    try {
      answer = run(batch.map((call) => call.argument));
    } catch (error) {
      answer = Promise.reject(error);
    }
    const fail = (error: unknown): void => {
      for (const call of batch) call.reject(error);
    };
    answer.then((results) => {
      if (results.length !== batch.length)
        fail(new Error(`a batch of ${batch.length} calls was answered with ${results.length} results`));
      else for (const [index, call] of batch.entries()) call.resolve(results[index]!);
    }, fail);
  };
  return (argument) =>
    new Promise<R>((resolve, reject) => {
      if (waiting.length === 0) process.nextTick(flush);
      waiting.push({ argument, resolve, reject });
    });
};
