/**
 * The in-process answers about known-good clients (known/record.ts) are bounded like the in-process document tier
 * (`memoryCacheSize`), not by a fixed 10,000: a flood of new ids leaves at most that many "not known" answers in
 * memory. Seen as: once more than `memoryCacheSize` other ids were resolved, the first id's answer is gone and its
 * next fetch asks the adapter again.
 */
import type { Adapter } from 'oidc-provider';
import { createCimd } from 'oidc-provider-cimd';
import { recordingAdapter, startDocumentHost, webDocument } from '../consent/support.js';
import { getTestCertificate } from '../helpers/certs.js';

test('"known" answers held in process are bounded by memoryCacheSize', async () => {
  const host = await startDocumentHost();
  const knownFinds = new Map<string, number>();
  // The consent suites' recording adapter, with the finds of the known-good model counted.
  const recording = recordingAdapter().adapter;
  const adapter = (name: string): Adapter => {
    const model = recording(name);
    if (name !== 'CimdKnown') return model;
    return {
      ...model,
      find(id) {
        knownFinds.set(id, (knownFinds.get(id) ?? 0) + 1);
        return model.find(id);
      },
    };
  };
  const cimd = createCimd({
    issuer: 'http://localhost:4000',
    allowLoopback: true,
    ca: (await getTestCertificate()).cert,
    memoryCacheSize: 5,
    budget: { perHostBurst: 1000, perDomainBurst: 1000 },
  });
  cimd.configure({ adapter });
  try {
    const ids = Array.from({ length: 8 }, (_, i) =>
      host.publish(`/c${i}.json`, webDocument(['https://app.example/cb'])),
    );
    for (const id of ids) expect(await cimd.resolve(id)).toBeDefined();
    expect(knownFinds.get(ids[0]!)).toBe(1);
    // A refetch of the first id asks the adapter again: its "not known" answer (kept 10 s) was pushed out by
    // the seven ids after it.
    await cimd.refresh(ids[0]!);
    expect(knownFinds.get(ids[0]!)).toBe(2);
  } finally {
    await cimd.close();
    await host.close();
  }
});
