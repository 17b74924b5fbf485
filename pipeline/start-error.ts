/**
 * A process that cannot start as configured: a port taken, an address that cannot be bound. `key` is
 * the config key to change, and leads the message (`observability.port: 127.0.0.1:9464 is in use`).
 */
export class StartError extends Error {
  override readonly name = 'StartError';

  constructor(
    readonly key: string,
    problem: string,
  ) {
    super(`${key}: ${problem}`);
  }
}

/** Binds a server; a failure to bind becomes a `StartError` naming the config key that chose the address. */
export const bindOrExplain = async <T>(
  key: string,
  address: { host: string; port: number },
  bind: () => Promise<T>,
): Promise<T> => {
  try {
    return await bind();
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    const where = `${address.host}:${address.port}`;
    if (code === 'EADDRINUSE') throw new StartError(key, `${where} is in use by another process; choose another port`);
    if (code === 'EACCES') throw new StartError(key, `not allowed to listen on ${where}`);
    if (code === 'EADDRNOTAVAIL') throw new StartError(key, `${address.host} is not an address of this machine`);
    throw new StartError(key, `cannot listen on ${where}: ${message}`);
  }
};
