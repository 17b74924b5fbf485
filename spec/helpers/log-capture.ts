import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../pipeline/logger.js';

/** A logger at debug level writing JSON lines into a string. */
export const captureLog = (): { logger: Logger; lines: () => string[] } => {
  let text = '';
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString('utf8');
      done();
    },
  });
  const logger = createLogger({ level: 'debug', pretty: false, destination });
  return { logger, lines: () => text.split('\n').filter((line) => line !== '') };
};
