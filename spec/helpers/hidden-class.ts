import { setFlagsFromString } from 'node:v8';

// V8's own checks, allowed for this process only: the natives syntax is read by functions compiled after
// the flag is set, so they are compiled here, once.
setFlagsFromString('--allow-natives-syntax');

/** Whether two objects share a V8 hidden class (map): what lets a read of one property stay monomorphic. */
export const sameHiddenClass = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (a: object, b: object) => boolean;

/**
 * Whether V8 keeps an object's properties fast (not as a dictionary). Objects kept as dictionaries
 * share one hidden class too, so `sameHiddenClass` alone proves nothing about them.
 */
export const hasFastProperties = new Function('a', 'return %HasFastProperties(a)') as (a: object) => boolean;
