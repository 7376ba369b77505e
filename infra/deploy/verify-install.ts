// Checks a release of the chart that `helm install` put into a real API
// server (infra/deploy/kube.sh): every object helm sent is stored, and
// stored as sent where Lectern depends on it (a field the server does not
// know, or a feature it has off, is dropped silently: kubeconform cannot see
// that); each Deployment has the replicas expected of it, and its pods, made
// by the controllers and placed by the scheduler, are reported ready by
// kwok's fake nodes. Exits non-zero on any failure.
//
//   node infra/deploy/verify-install.ts <namespace> <release>
//
// Environment: HELM (the binary), KUBECONFIG (for helm), KUBE_SERVER,
// KUBE_CA (the server's certificate) and KUBE_TOKEN_FILE.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';

type Json = Record<string, any>;

const [namespace, release] = process.argv.slice(2);
if (!namespace || !release) throw new Error('usage: verify-install.ts <namespace> <release>');
const server = process.env.KUBE_SERVER!;
const ca = readFileSync(process.env.KUBE_CA!);
const token = readFileSync(process.env.KUBE_TOKEN_FILE!, 'utf8').trim();
const problems: string[] = [];
const say = (msg: string): void => {
  process.stderr.write(`[verify-install] ${msg}\n`);
};

const get = (path: string): Promise<{ status: number; body: Json }> =>
  new Promise((resolve, reject) => {
    const req = request(`${server}${path}`, { ca, headers: { authorization: `Bearer ${token}` } }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: text ? (JSON.parse(text) as Json) : {} }),
      );
    });
    req.on('error', reject);
    req.end();
  });

/** JSON with every object's keys sorted: the server does not keep the order it was sent. */
const canonical = (value: unknown): string =>
  JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  ) ?? 'undefined';

/** The REST path of a namespaced object of the kinds the chart makes. */
const pathOf = (o: Json): string => {
  const plural: Record<string, string> = {
    Deployment: 'deployments',
    Service: 'services',
    ServiceAccount: 'serviceaccounts',
    HorizontalPodAutoscaler: 'horizontalpodautoscalers',
    PodDisruptionBudget: 'poddisruptionbudgets',
    Ingress: 'ingresses',
  };
  const kind = plural[o.kind];
  if (!kind) throw new Error(`verify-install.ts does not know the kind ${o.kind}: add it`);
  const base = o.apiVersion.includes('/') ? `/apis/${o.apiVersion}` : `/api/${o.apiVersion}`;
  return `${base}/namespaces/${namespace}/${kind}/${o.metadata.name}`;
};

const { stdout } = await promisify(execFile)(
  process.env.HELM!,
  ['get', 'manifest', release, '-n', namespace],
  {
    maxBuffer: 16 * 1024 * 1024,
  },
);
const sent = parseAllDocuments(stdout)
  .map((d) => d.toJSON() as Json | null)
  .filter((o): o is Json => o !== null);

for (const o of sent) {
  const { status, body } = await get(pathOf(o));
  const name = `${o.kind}/${o.metadata.name}`;
  if (status !== 200) {
    problems.push(`${name}: GET answered ${status}`);
    continue;
  }
  // What the server stored must still carry what was sent, where it matters.
  if (o.kind === 'Deployment') {
    const role = o.metadata.labels['app.kubernetes.io/component'];
    const want = o.spec.replicas ?? 1; // an HPA's Deployment is created with the default, 1
    if (body.spec.replicas !== want)
      problems.push(`${name}: ${body.spec.replicas} replicas, expected ${want}`);
    if (role === 'relay' && (body.spec.replicas !== 1 || body.spec.strategy.type !== 'Recreate'))
      problems.push(`${name}: the relay must be one replica with Recreate`);
    const sentC = o.spec.template.spec.containers[0];
    const c = body.spec.template.spec.containers[0];
    const check = (what: string, a: unknown, b: unknown): void => {
      if (canonical(a) !== canonical(b))
        problems.push(`${name}: ${what} stored as ${canonical(b)}, sent ${canonical(a)}`);
    };
    check('securityContext', sentC.securityContext, c.securityContext);
    check('preStop', sentC.lifecycle?.preStop, c.lifecycle?.preStop);
    check('startupProbe.httpGet.path', sentC.startupProbe.httpGet.path, c.startupProbe.httpGet.path);
    check('readinessProbe.httpGet.path', sentC.readinessProbe.httpGet.path, c.readinessProbe.httpGet.path);
    check('env', sentC.env, c.env);
    check(
      'terminationGracePeriodSeconds',
      o.spec.template.spec.terminationGracePeriodSeconds,
      body.spec.template.spec.terminationGracePeriodSeconds,
    );
    say(`${name}: ${body.spec.replicas} replica(s), ${body.spec.strategy.type}`);
  }
  if (o.kind === 'PodDisruptionBudget' && body.spec.unhealthyPodEvictionPolicy !== 'AlwaysAllow')
    problems.push(`${name}: unhealthyPodEvictionPolicy not stored`);
  if (o.kind === 'HorizontalPodAutoscaler') {
    const target = body.spec.metrics?.[0]?.resource?.target?.averageUtilization;
    if (target !== 70) problems.push(`${name}: target ${target}, expected 70`);
  }
}

// The pods: made by the controllers, bound by the scheduler, reported
// running and ready by kwok. Bounded, never a fixed sleep.
const READY_WITHIN_MS = 300_000;
// One deadline for them all: a broken chart fails within it, not once per Deployment.
const deadline = Date.now() + READY_WITHIN_MS;
for (const o of sent.filter((x) => x.kind === 'Deployment')) {
  let status: Json = {};
  for (;;) {
    const { body } = await get(pathOf(o));
    status = body.status ?? {};
    if (status.readyReplicas === body.spec.replicas && status.updatedReplicas === body.spec.replicas) break;
    if (Date.now() > deadline) {
      problems.push(
        `Deployment/${o.metadata.name}: ${status.readyReplicas ?? 0} of ${body.spec.replicas} ready`,
      );
      break;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  say(`Deployment/${o.metadata.name}: ${status.readyReplicas ?? 0} ready`);
}
// Each pod on a node, as the scheduler placed it.
const pods = (await get(`/api/v1/namespaces/${namespace}/pods`)).body.items as Json[];
const unplaced = pods.filter((p) => !p.spec.nodeName);
if (unplaced.length) problems.push(`${unplaced.length} pods without a node`);
say(`${pods.length} pods on nodes ${[...new Set(pods.map((p) => p.spec.nodeName))].sort().join(', ')}`);

say(`${sent.length} objects sent by helm, all checked in namespace ${namespace}`);
if (problems.length) {
  for (const p of problems) say(`problem: ${p}`);
  process.exit(1);
}
