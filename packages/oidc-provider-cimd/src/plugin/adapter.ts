/**
 * Wraps a deployment's oidc-provider adapter so that `Client` lookups go: the deployment's own adapter
 * (DCR and stored clients) → CIMD. oidc-provider itself consults static clients before any adapter, so the
 * full lookup order is static → adapter → CIMD. Every other model passes through untouched.
 */
import type { Adapter, AdapterPayload } from 'oidc-provider';
import { errors } from 'oidc-provider';
import { isCimdError, Reason } from '../core/errors.js';

export type AdapterFactory = (name: string) => Adapter;
export type AdapterConstructor = new (name: string) => Adapter;

/**
 * Resolves a URL client id to client metadata; `undefined` when the id is not a CIMD id. Throws CimdError. A warm
 * client is answered synchronously, without a promise.
 */
export type ClientResolver = (id: string) => AdapterPayload | undefined | Promise<AdapterPayload | undefined>;

function isConstructor(value: unknown): value is AdapterConstructor {
  return typeof value === 'function' && typeof value.prototype === 'object' && value.prototype !== null;
}

/** Called after the deployment's adapter saved a grant of a CIMD client (a user approved it). Never awaited. */
export type GrantSavedHook = (clientId: string, accountId: string | undefined) => void;

export function wrapAdapter(
  inner: AdapterFactory | AdapterConstructor,
  resolveClient: ClientResolver,
  onGrantSaved?: GrantSavedHook,
): AdapterFactory {
  const make = (name: string): Adapter => (isConstructor(inner) ? new inner(name) : (inner as AdapterFactory)(name));
  // An arrow function has no prototype, so oidc-provider calls it as a factory.
  return (name: string) => {
    const base = make(name);
    if (name === 'Client') return clientAdapter(base, resolveClient);
    if (name === 'Grant' && onGrantSaved) return grantAdapter(base, onGrantSaved);
    return base;
  };
}

/**
 * The Grant model passes through; a saved grant of a URL client id tells the plugin that the client completed an
 * authorization, which is what earns its document a longer life in the shared store.
 */
function grantAdapter(base: Adapter, onGrantSaved: GrantSavedHook): Adapter {
  return {
    async upsert(id, payload, expiresIn) {
      await base.upsert(id, payload, expiresIn);
      const clientId = payload.clientId;
      if (typeof clientId === 'string' && clientId.startsWith('https://')) {
        try {
          onGrantSaved(clientId, typeof payload.accountId === 'string' ? payload.accountId : undefined);
        } catch {}
      }
    },
    find: (id) => base.find(id),
    destroy: (id) => base.destroy(id),
    consume: (id) => base.consume(id),
    findByUid: (uid) => base.findByUid(uid),
    findByUserCode: (code) => base.findByUserCode(code),
    revokeByGrantId: (grantId) => base.revokeByGrantId(grantId),
  };
}

function clientAdapter(base: Adapter, resolveClient: ClientResolver): Adapter {
  const translate = (error: unknown): never => {
    if (isCimdError(error)) {
      // The provider renders this as a 400 error page: an unresolved client is never redirected to.
      // SPEC.clientAuthentication: no usable auth method is `unauthorized_client`.
      if (error.code === Reason.UnauthorizedClient)
        throw new errors.UnauthorizedClient(error.publicMessage, error.code);
      throw new errors.InvalidClient(error.publicMessage, error.code);
    }
    throw error;
  };
  const resolve = (id: string): AdapterPayload | undefined | Promise<AdapterPayload | undefined> => {
    try {
      const resolved = resolveClient(id);
      return resolved instanceof Promise ? resolved.catch(translate) : resolved;
    } catch (error) {
      return translate(error);
    }
  };
  return {
    // The deployment's own adapter first: a pre-registered client whose id is an https URL is served from the
    // registry, never fetched. One `then`, not an async function around two awaits: this runs
    // on every request of a CIMD client, and a warm one is answered synchronously by the resolver.
    find(id) {
      let stored: ReturnType<Adapter['find']>;
      try {
        stored = base.find(id);
      } catch (error) {
        return Promise.reject(error);
      }
      return Promise.resolve(stored).then((found) => found || resolve(id));
    },
    async upsert(id, payload, expiresIn) {
      if (id.startsWith('https://')) {
        // Draft §7.1: a stored client with a URL id would shadow (or be shadowed by) a CIMD client.
        throw new Error(
          `oidc-provider-cimd: refusing to store client ${JSON.stringify(id)}: ids of registered clients must not start with https://`,
        );
      }
      return base.upsert(id, payload, expiresIn);
    },
    destroy: (id) => base.destroy(id),
    consume: (id) => base.consume(id),
    findByUid: (uid) => base.findByUid(uid),
    findByUserCode: (code) => base.findByUserCode(code),
    revokeByGrantId: (grantId) => base.revokeByGrantId(grantId),
  };
}
