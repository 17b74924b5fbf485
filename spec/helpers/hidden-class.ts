import { setFlagsFromString } from 'node:v8';

// V8's own check, allowed for this process only: the natives syntax is read by functions compiled after
// the flag is set, so `%HaveSameMap` is compiled here, once.
setFlagsFromString('--allow-natives-syntax');

/** Whether two objects share a V8 hidden class (map): what lets a read of one property stay monomorphic. */
export const sameHiddenClass = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (a: object, b: object) => boolean;
