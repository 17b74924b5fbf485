import type { IdentityRef } from '../operators/model/envelope.js';

/** `a***@example.com`: enough to recognise a person in a log or history, not enough to copy the address. */
export const maskEmail = (email: string): string => {
  const at = email.lastIndexOf('@');
  if (at <= 0) return '***';
  return `${email[0]}***${email.slice(at)}`;
};

/** An identity for logs and history: emails masked, other ids shortened. */
export const maskIdentity = (identity: IdentityRef | undefined): string | undefined => {
  if (!identity) return undefined;
  if (identity.target === 'email') return `${identity.namespace}:${maskEmail(identity.id)}`;
  const id = identity.id.length > 12 ? `${identity.id.slice(0, 4)}...${identity.id.slice(-4)}` : identity.id;
  return `${identity.namespace}:${id}`;
};
