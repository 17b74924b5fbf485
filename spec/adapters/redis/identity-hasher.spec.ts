import { expect } from 'chai';
import { createHmac } from 'node:crypto';
import { IdentityHasher } from '../../../adapters/redis/identity-hasher.js';
import { RedisFixture } from '../../helpers/redis.js';

describe('IdentityHasher (real Redis)', () => {
  const fixture = new RedisFixture();
  afterEach(() => fixture.cleanup());

  it('makes one key for every process (SET NX) and names a person the same in each, unreadably', async () => {
    const redisKey = `${fixture.prefix}:identity-hash-key`;
    const [a, b] = [
      new IdentityHasher({ redis: fixture.connect(), redisKey }),
      new IdentityHasher({ redis: fixture.connect(), redisKey }),
    ];
    const [fromA, fromB] = await Promise.all([a.hash('email:ann@example.com'), b.hash('email:ann@example.com')]);
    expect(fromA).to.equal(fromB);
    expect(fromA).to.match(/^[A-Za-z0-9_-]{43}$/);
    const stored = Buffer.from((await fixture.connect().get(redisKey))!, 'base64url');
    expect(fromA).to.equal(createHmac('sha256', stored).update('email:ann@example.com').digest('base64url'));
    expect(await a.hash('email:bob@example.com')).not.to.equal(fromA);
  });

  it('uses a configured key instead, and touches no Redis key', async () => {
    const hasher = new IdentityHasher({ secret: 'configured-key' });
    expect(await hasher.hash('email:ann@example.com')).to.equal(
      createHmac('sha256', 'configured-key').update('email:ann@example.com').digest('base64url'),
    );
  });
});
