/** What went wrong, as one line for a log or an outcome's detail: an Error's message, else the value itself. */
export const messageOf = (error: unknown): string => {
  if (error instanceof Error) return error.message;
  try {
    return String(error);
  } catch {
    // A thrown value that cannot be a string (no prototype, a throwing toString): its kind, never a throw.
    return Object.prototype.toString.call(error);
  }
};

/**
 * A send refused before any request, because the destination as configured may not be sent to (a host
 * that resolves to a private address): like a 401 or 404, no retry fixes it; `emit` pauses the flow
 * with this message until the config changes.
 */
export class MisconfiguredDestinationError extends Error {
  override readonly name: string = 'MisconfiguredDestinationError';
  readonly misconfigured = true;
}

/** The message of a `MisconfiguredDestinationError` in `error` or its causes (an HTTP client wraps it), if any. */
export const misconfigurationOf = (error: unknown): string | undefined => {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; depth += 1) {
    if ((current as Partial<MisconfiguredDestinationError>).misconfigured === true) return current.message;
    current = current.cause;
  }
  return undefined;
};
