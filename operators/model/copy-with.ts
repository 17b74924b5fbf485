/**
 * `{ ...object, ...additions }` for the copies made on every update (envelopes, payloads), built key by
 * key so that copies of objects of one shape share one hidden class.
 *
 * Why not the spread itself: in V8 11 (Node 20) an object made by a spread gets a hidden class of its
 * own, outside the tree V8 shares between objects built the same way, so a key the spread did not bring
 * (`{ ...envelope, identity }`) makes a new hidden class for every copy. That costs about 1 us a key
 * and a class allocated for the garbage collector each time, and leaves every later read of such objects
 * megamorphic (BENCHMARKS.md, "sixth session"). Keys set one by one on `{}` follow the shared tree.
 *
 * Same result as the spread for plain data objects: own enumerable string keys in the object's order,
 * an addition replacing a key in place and new keys after, in the additions' order; `__proto__` is an
 * own key as the spread makes it, never the prototype. Symbol keys are not copied.
 */
export const copyWith = <T extends object, A extends object>(object: T, additions: A): Omit<T, keyof A> & A => {
  const copy: Record<string, unknown> = {};
  copyInto(copy, object as Record<string, unknown>);
  copyInto(copy, additions as Record<string, unknown>);
  return copy as Omit<T, keyof A> & A;
};

const copyInto = (copy: Record<string, unknown>, from: Record<string, unknown>): void => {
  for (const key of Object.keys(from)) setOwn(copy, key, from[key]);
};

/** `target[key] = value` as an own key whatever the key: `__proto__` too, never the prototype. */
export const setOwn = (target: Record<string, unknown>, key: string, value: unknown): void => {
  if (key === '__proto__')
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
};
