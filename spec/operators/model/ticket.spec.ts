import { expect } from 'chai';
import { Ledger } from '../../../operators/model/ledger.js';
import { delivered, duplicate, excluded, failed, type Outcome } from '../../../operators/model/outcome.js';
import { Ticket, TicketError } from '../../../operators/model/ticket.js';

const at = { origin: { source: 'test', position: '1' } };

describe('Ticket', () => {
  it('counts a received envelope when opened and its outcome when settled, then tells the source', () => {
    const ledger = new Ledger();
    let acknowledged = 0;
    const ticket = Ticket.open(ledger, () => (acknowledged += 1));
    expect(ledger.counts()).to.include({ received: 1, inFlight: 1, settled: 0 });
    ticket.settle(excluded('not-qualified'), at);
    expect(acknowledged).to.equal(1);
    expect(ledger.counts()).to.deep.include({ received: 1, inFlight: 0, settled: 1, excluded: { 'not-qualified': 1 } });
  });

  it('refuses to be settled twice, so a faulty operator is found', () => {
    const ledger = new Ledger();
    const ticket = Ticket.open(ledger);
    ticket.settle(delivered(202), at);
    expect(() => ticket.settle(delivered(202), at)).to.throw(TicketError, 'ticket already settled');
    expect(ledger.counts()).to.include({ delivered: 1, settled: 1 });
  });

  it('splits into parts counted one by one; the source hears once, after the last part', () => {
    const ledger = new Ledger();
    let acknowledged = 0;
    const parts = Ticket.open(ledger, () => (acknowledged += 1)).split(3);
    expect(ledger.counts()).to.include({ received: 3, inFlight: 3 });
    parts[0]!.settle(delivered(202), at);
    parts[2]!.settle(duplicate(), at);
    expect(acknowledged).to.equal(0);
    parts[1]!.settle(failed('http-400'), at);
    expect(acknowledged).to.equal(1);
    expect(ledger.counts()).to.deep.include({
      received: 3,
      delivered: 1,
      duplicate: 1,
      failed: { 'http-400': 1 },
      inFlight: 0,
    });
  });

  it('cannot be split into nothing, nor settled after a split', () => {
    const ledger = new Ledger();
    expect(() => Ticket.open(ledger).split(0)).to.throw(TicketError, 'cannot split a ticket into 0 parts');
    const ticket = Ticket.open(ledger);
    ticket.split(2);
    expect(() => ticket.settle(delivered(202), at)).to.throw(TicketError, 'ticket already split');
  });

  it('runs hooks before recording, the latest hook first, and records what they return', () => {
    const ledger = new Ledger();
    const calls: string[] = [];
    const original = Ticket.open(ledger);
    const hooked = original
      .withHook((outcome) => (calls.push(`outer saw ${outcome.kind}`), outcome))
      .withHook((outcome) => (calls.push(`inner saw ${outcome.kind}`), duplicate('rewritten')));
    expect(() => original.settle(delivered(202), at)).to.throw(TicketError, 'ticket already handed-on');
    hooked.settle(delivered(202), at);
    expect(calls).to.deep.equal(['inner saw delivered', 'outer saw duplicate']);
    expect(ledger.counts()).to.include({ duplicate: 1, delivered: 0 });
  });

  it('waits for an asynchronous hook before recording and acknowledging', async () => {
    const ledger = new Ledger();
    let acknowledged = false;
    let finish!: (outcome: Outcome) => void;
    const ticket = Ticket.open(ledger, () => (acknowledged = true)).withHook(
      () => new Promise<Outcome>((resolve) => (finish = resolve)),
    );
    ticket.settle(delivered(202), at);
    await Promise.resolve();
    expect(acknowledged).to.equal(false);
    expect(ledger.inFlight).to.equal(1);
    finish(delivered(202));
    await ledger.whenSettled();
    expect(acknowledged).to.equal(true);
  });

  it('still records the outcome when a hook fails, and reports the failure', async () => {
    const ledger = new Ledger();
    const errors: unknown[] = [];
    ledger.hookErrors$.subscribe((error) => errors.push(error));
    Ticket.open(ledger)
      .withHook(() => {
        throw new Error('sync boom');
      })
      .settle(delivered(202), at);
    Ticket.open(ledger)
      .withHook(() => Promise.reject(new Error('async boom')))
      .settle(failed('http-500'), at);
    const counts = await ledger.whenSettled();
    expect(counts).to.deep.include({ delivered: 1, failed: { 'http-500': 1 }, inFlight: 0 });
    expect(errors.map((e) => (e as Error).message)).to.deep.equal(['sync boom', 'async boom']);
  });

  it('runs the earlier hooks though a later one fails, on the outcome as it was, and reports the failure', async () => {
    const ledger = new Ledger();
    const errors: unknown[] = [];
    ledger.hookErrors$.subscribe((error) => errors.push(error));
    // The earlier hook is dedupe's: skipped, its lease would be renewed for as long as the process runs.
    const seen: string[] = [];
    const earlier = (outcome: Outcome): Outcome => (seen.push(outcome.kind), outcome);
    Ticket.open(ledger)
      .withHook(earlier)
      .withHook(() => {
        throw new Error('sync boom');
      })
      .settle(delivered(202), at);
    Ticket.open(ledger)
      .withHook(earlier)
      .withHook(() => Promise.reject(new Error('async boom')))
      .settle(failed('http-500'), at);
    const counts = await ledger.whenSettled();
    expect(seen).to.deep.equal(['delivered', 'failed']);
    expect(counts).to.deep.include({ delivered: 1, failed: { 'http-500': 1 }, inFlight: 0 });
    expect(errors.map((e) => (e as Error).message)).to.deep.equal(['sync boom', 'async boom']);
  });

  it('runs an earlier asynchronous hook to its end before passing on the failure of a later one', async () => {
    const ledger = new Ledger();
    const errors: unknown[] = [];
    ledger.hookErrors$.subscribe((error) => errors.push(error));
    let finish!: (outcome: Outcome) => void;
    const seen: string[] = [];
    Ticket.open(ledger)
      .withHook((outcome) => (seen.push(outcome.kind), new Promise<Outcome>((resolve) => (finish = resolve))))
      .withHook(() => {
        throw new Error('sync boom');
      })
      .settle(delivered(202), at);
    // The earlier hook (dedupe's lease) is still at work: nothing is recorded before it ends.
    await Promise.resolve();
    expect(seen).to.deep.equal(['delivered']);
    expect(ledger.inFlight).to.equal(1);
    finish(delivered(202));
    const counts = await ledger.whenSettled();
    // Recorded as it was, the later hook's failure reported (not the earlier hook's result recorded).
    expect(counts).to.deep.include({ delivered: 1, inFlight: 0 });
    expect(errors.map((e) => (e as Error).message)).to.deep.equal(['sync boom']);
  });

  it('records at once when every hook is synchronous, even if a later one throws', () => {
    const ledger = new Ledger();
    Ticket.open(ledger)
      .withHook((outcome) => outcome)
      .withHook(() => {
        throw new Error('sync boom');
      })
      .settle(failed('http-500'), at);
    // No promise in the chain, so no microtask between the settle and the books.
    expect(ledger.counts()).to.deep.include({ failed: { 'http-500': 1 }, inFlight: 0 });
  });

  it('on release, runs the hooks with a shutdown failure and releases it in the ledger: not settled, not acked', () => {
    const ledger = new Ledger();
    let acknowledged = 0;
    const seen: Outcome[] = [];
    const errors: unknown[] = [];
    ledger.hookErrors$.subscribe((error) => errors.push(error));
    const ticket = Ticket.open(ledger, () => (acknowledged += 1)).withHook((outcome) => (seen.push(outcome), outcome));
    ticket.release();
    // A synchronous hook is no failure of the hook.
    expect(errors).to.deep.equal([]);
    expect(seen).to.deep.equal([failed('shutdown', { detail: 'the pipeline stopped before this update was settled' })]);
    expect(ledger.counts()).to.include({ received: 1, settled: 0, released: 1, inFlight: 0 });
    expect(acknowledged).to.equal(0);
    expect(() => ticket.release()).to.throw(TicketError, 'ticket already released, cannot be released');
    expect(ledger.counts()).to.include({ released: 1 });
  });

  it('on release, waits for an asynchronous hook, and releases though a hook fails', async () => {
    const ledger = new Ledger();
    const errors: unknown[] = [];
    ledger.hookErrors$.subscribe((error) => errors.push(error));
    let finish!: (outcome: Outcome) => void;
    Ticket.open(ledger)
      .withHook(() => new Promise<Outcome>((resolve) => (finish = resolve)))
      .release();
    await Promise.resolve();
    expect(ledger.counts()).to.include({ released: 0, inFlight: 1 });
    finish(failed('shutdown'));
    await ledger.whenSettled();
    Ticket.open(ledger)
      .withHook(() => {
        throw new Error('sync boom');
      })
      .release();
    Ticket.open(ledger)
      .withHook(() => Promise.reject(new Error('async boom')))
      .release();
    const counts = await ledger.whenSettled();
    expect(counts).to.include({ released: 3, settled: 0, inFlight: 0 });
    expect(errors.map((e) => (e as Error).message)).to.deep.equal(['sync boom', 'async boom']);
  });

  it('releases a ticket without hooks at once', () => {
    const ledger = new Ledger();
    const errors: unknown[] = [];
    ledger.hookErrors$.subscribe((error) => errors.push(error));
    Ticket.open(ledger).release();
    expect(errors).to.deep.equal([]);
    expect(ledger.counts()).to.include({ released: 1, inFlight: 0 });
    // What whenSettled and the backpressure watch read.
    expect(ledger.inFlight).to.equal(0);
  });

  it("a proxy ticket (a plug-in's) hands its outcome and its misuse to the guard, and records nothing", () => {
    const settled: string[] = [];
    const misuse: string[] = [];
    const proxy = Ticket.proxy({
      settle: (outcome) => settled.push(outcome.kind),
      misuse: (error) => misuse.push(error.message),
    });
    proxy.settle(excluded('first'), at);
    proxy.settle(excluded('second'), at);
    proxy.release();
    expect(proxy.withHook((o) => o)).to.equal(proxy);
    expect(() => proxy.split(2)).to.throw(TicketError, /^a plug-in cannot split an update$/);
    expect(settled).to.deep.equal(['excluded']);
    expect(misuse).to.deep.equal([
      'ticket already settled, cannot be settled',
      'an operator of a plug-in cannot release an update: pass it on or settle it',
      'a plug-in cannot add a settle hook; it is ignored',
    ]);
  });
});
