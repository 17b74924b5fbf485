/** What went wrong, as one line for a log or an outcome's detail: an Error's message, else the value itself. */
export const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));
