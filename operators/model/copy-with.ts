/**
 * `{ ...object, ...additions }` for the copies made on every update (envelopes, payloads), built key by
 * key so that copies of objects of one shape share one hidden class.
 *
 * Why not the spread itself: in V8 11 (Node 20) an object made by a spread gets a hidden class of its
 * own, outside the tree V8 shares between objects built the same way, so a key the spread did not bring
 * (`{ ...envelope, identity }`) makes a new hidden class for every copy: 0.6-1.1 us a copy (one key
 * added, in a loop, against 0.08-0.14 for this copy) and a class allocated for the garbage collector
 * each time (BENCHMARKS.md, "sixth session"). Keys set one by one on `{}` follow the shared tree.
 *
 * Same result as the spread for plain data objects: own enumerable string keys in the object's order,
 * an addition replacing a key in place and new keys after, in the additions' order; `__proto__` is an
 * own key as the spread makes it, never the prototype. Symbol keys are not copied. `additions` may only
 * name the object's own keys, as a spread typed as the object's type may.
 */
export const copyWith = <T extends object>(object: T, additions: Partial<NoInfer<T>>): T => {
  const keys = Object.keys(object);
  const added = Object.keys(additions);
  // Set one by one past a couple of dozen keys, V8 may keep the copy as a dictionary (measured: from 28
  // keys, some sizes), slow to read and to serialize; a wide object keeps the spread's fast copy.
  if (keys.length + added.length > KEY_BY_KEY_MAX) return { ...object, ...additions };
  const copy: Record<string, unknown> = {};
  for (const key of keys) setOwn(copy, key, (object as Record<string, unknown>)[key]);
  for (const key of added) setOwn(copy, key, (additions as Record<string, unknown>)[key]);
  return copy as T;
};

/** The most keys `copyWith` sets one by one (the object's and the additions'); past it, it spreads. */
export const KEY_BY_KEY_MAX = 24;

/** `target[key] = value` as an own key whatever the key: `__proto__` too, never the prototype. */
export const setOwn = (target: Record<string, unknown>, key: string, value: unknown): void => {
  if (key === '__proto__')
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
};
