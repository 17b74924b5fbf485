/** Narrowing of unknown values (parsed JSON, caught errors), shared by the dead-letter file's modules. */

export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

export const codeOf = (error: unknown): unknown => (error as NodeJS.ErrnoException | undefined)?.code;
