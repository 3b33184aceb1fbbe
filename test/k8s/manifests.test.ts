// The Kubernetes manifests, offline: every overlay renders with kustomize,
// every object type-checks against the Kubernetes API types (a misspelled
// field such as runAsUsr fails tsc), and the security and probe policy holds.
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { parseAllDocuments } from 'yaml';
import { buildApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import { AudioEngine } from '../../src/engine/engine';

const root = path.resolve(__dirname, '../..');
const OVERLAYS = ['device-plugin', 'hostpath', 'headless'] as const;

type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; [key: string]: any };

function render(dir: string): K8sObject[] {
  const text = execFileSync('kubectl', ['kustomize', path.join(root, 'k8s', dir)], { encoding: 'utf8' });
  return parseAllDocuments(text).map((doc) => doc.toJS() as K8sObject);
}

// apiVersion/kind → the kubernetes-types module and type that describe it.
function typeOf(object: K8sObject): string {
  const [group, version] = object.apiVersion.includes('/') ? object.apiVersion.split('/') : ['core', object.apiVersion];
  const module = group === 'core' ? `kubernetes-types/core/${version}` : `kubernetes-types/${group!.split('.')[0]}/${version}`;
  return `import('${module}').${object.kind}`;
}

function speakerd(objects: K8sObject[]): K8sObject {
  return objects.find((o) => o.kind === 'DaemonSet' && o.metadata.name === 'speakerd')!;
}

const rendered = Object.fromEntries(OVERLAYS.map((overlay) => [overlay, render(`overlays/${overlay}`)])) as Record<(typeof OVERLAYS)[number], K8sObject[]>;

t.test('every overlay renders, and every object type-checks against the Kubernetes API types', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'speakerd-k8s-types-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const lines: string[] = [];
  let count = 0;
  for (const [overlay, objects] of Object.entries(rendered)) {
    t.ok(objects.length >= 6, `${overlay}: ${objects.length} objects`);
    for (const object of objects) {
      lines.push(`// ${overlay}: ${object.kind} ${object.metadata.name}`, `export const o${count++}: ${typeOf(object)} = ${JSON.stringify(object, null, 2)};`);
    }
  }
  writeFileSync(path.join(dir, 'manifests.ts'), `${lines.join('\n')}\n`);
  writeFileSync(
    path.join(dir, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { strict: true, noEmit: true, module: 'commonjs', types: [], typeRoots: [], baseUrl: root, paths: { 'kubernetes-types/*': [`node_modules/kubernetes-types/*`] } }, files: ['manifests.ts'] }),
  );
  const tsc = spawnSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', dir], { encoding: 'utf8' });
  t.equal(tsc.status, 0, `tsc accepts all ${count} objects${tsc.stdout ? `:\n${tsc.stdout}` : ''}`);

  // The check is worth something only if it catches a misspelling.
  writeFileSync(path.join(dir, 'manifests.ts'), `export const o: import('kubernetes-types/core/v1').PodSecurityContext = { runAsUsr: 10001 };\n`);
  const typo = spawnSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', dir], { encoding: 'utf8' });
  t.not(typo.status, 0);
  t.match(typo.stdout, /'runAsUsr' does not exist in type 'PodSecurityContext'/);
});

t.test('speakerd runs non-root with no capabilities, no privilege escalation, a read-only root and the Localhost seccomp profile in every overlay', async (t) => {
  for (const [overlay, objects] of Object.entries(rendered)) {
    const pod = speakerd(objects).spec.template.spec;
    const container = pod.containers[0];
    t.same(
      { runAsNonRoot: pod.securityContext.runAsNonRoot, runAsUser: pod.securityContext.runAsUser, runAsGroup: pod.securityContext.runAsGroup, supplementalGroups: pod.securityContext.supplementalGroups },
      { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, supplementalGroups: [29] },
      `${overlay}: uid and gid 10001, the audio group 29`,
    );
    t.same(container.securityContext, { allowPrivilegeEscalation: false, privileged: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } }, `${overlay}: container securityContext`);
    t.same(pod.securityContext.seccompProfile, { type: 'Localhost', localhostProfile: 'speakerd/speakerd.json' });
    t.equal(pod.automountServiceAccountToken, false);
    const tmp = pod.volumes.find((volume: any) => volume.name === 'tmp');
    t.ok(tmp?.emptyDir, `${overlay}: /tmp is an emptyDir on a read-only root`);
    t.same(container.volumeMounts.find((mount: any) => mount.name === 'tmp'), { name: 'tmp', mountPath: '/tmp' });
    const privileged = objects.filter((o) => o.metadata.name === 'speakerd').flatMap((o) => o.spec?.template?.spec?.containers ?? []).filter((c: any) => c.securityContext?.privileged);
    t.same(privileged, [], `${overlay}: no privileged speakerd container`);
  }
});

t.test('the Localhost profile the pods name is the one shipped in k8s/seccomp', async (t) => {
  const profile = speakerd(rendered.headless).spec.template.spec.securityContext.seccompProfile.localhostProfile as string;
  t.equal(path.basename(profile), 'speakerd.json');
  t.ok(existsSync(path.join(root, 'k8s/seccomp', path.basename(profile))), 'k8s/seccomp/speakerd.json exists; install it as <kubelet seccomp dir>/speakerd/speakerd.json');
});

t.test('the probes are routes the service serves, and the grace period outlasts SHUTDOWN_GRACE_MS', async (t) => {
  const served = ['/healthz', '/livez', '/readyz'];
  for (const [overlay, objects] of Object.entries(rendered)) {
    const daemonSet = speakerd(objects);
    const container = daemonSet.spec.template.spec.containers[0];
    t.equal(container.startupProbe.httpGet.path, '/healthz');
    t.equal(container.livenessProbe.httpGet.path, '/livez');
    t.equal(container.readinessProbe.httpGet.path, '/readyz');
    for (const probe of [container.startupProbe, container.livenessProbe, container.readinessProbe]) {
      t.ok(served.includes(probe.httpGet.path));
      t.equal(probe.httpGet.port, 'probes', `${overlay}: ${probe.httpGet.path} on the probes' own port`);
    }
    t.same(container.ports, [
      { name: 'http', containerPort: 8080, protocol: 'TCP' },
      { name: 'probes', containerPort: 8081, protocol: 'TCP' },
    ]);
    const env = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'speakerd-env')!.data;
    t.equal(env.PORT, '8080', `${overlay}: the API's port`);
    t.equal(env.PROBE_PORT, '8081', `${overlay}: the port the probes use`);
    t.ok(daemonSet.spec.template.spec.terminationGracePeriodSeconds * 1000 > Number(env.SHUTDOWN_GRACE_MS) + 5000, `${overlay}: terminationGracePeriodSeconds above SHUTDOWN_GRACE_MS`);
    const budget = container.startupProbe.periodSeconds * container.startupProbe.failureThreshold * 1000;
    t.ok(budget > 2 * Number(env.AUDIO_OPEN_TIMEOUT_MS), `${overlay}: a ${budget / 1000} s start-up budget covers a slow card's open`);
  }
  // The routes really exist: the app answers them.
  const config = loadConfig({ AUDIO_MODE: 'headless' });
  const logger = pino({ level: 'silent' });
  const app = await buildApp(config, new AudioEngine({ audio: config.audio, maxStreams: 1 }, logger), logger);
  t.teardown(() => app.close());
  for (const url of served) t.not((await app.inject({ url })).statusCode, 404, `${url} is served`);
  // The scrape annotations name a real route on the probes' port.
  for (const [overlay, objects] of Object.entries(rendered)) {
    const annotations = speakerd(objects).spec.template.metadata.annotations;
    t.same(annotations, { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '8080', 'prometheus.io/path': '/metrics' }, `${overlay}: scrape annotations`);
  }
  t.ok(app.hasRoute({ method: 'GET', url: '/metrics' }), '/metrics is a route');
});

t.test('NODE_NAME and POD_NAME come from the downward API in every overlay (target_info on /metrics names them)', async (t) => {
  for (const [overlay, objects] of Object.entries(rendered)) {
    const env = speakerd(objects).spec.template.spec.containers[0].env;
    t.same(
      env.filter((variable: any) => ['NODE_NAME', 'POD_NAME'].includes(variable.name)),
      [
        { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
        { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      ],
      overlay,
    );
  }
});

t.test('memory: the limit fits the heap cap, the rings and the base the doctor budgets', async (t) => {
  const objects = rendered['device-plugin'];
  const env = objects.find((o) => o.kind === 'ConfigMap')!.data;
  const resources = speakerd(objects).spec.template.spec.containers[0].resources;
  t.equal(resources.limits.memory, '256Mi');
  t.notOk(resources.limits.cpu, 'no CPU limit: throttling is heard as underruns');
  const heap = Number(/--max-old-space-size=(\d+)/.exec(env.NODE_OPTIONS)![1]);
  const needed = heap + Number(env.MAX_STREAMS) * 1 + 80;
  t.ok(needed < 256, `heap ${heap} MiB + ${env.MAX_STREAMS} rings of 1 MiB + 80 MiB base = ${needed} MiB < 256 MiB`);
});

t.test('Pod Security: device-plugin and headless meet "baseline" (no hostPath, no privileged, no added capabilities, no host namespaces); hostpath says it does not', async (t) => {
  for (const overlay of ['device-plugin', 'headless'] as const) {
    const objects = rendered[overlay].filter((o) => o.metadata.namespace === 'speakerd' || o.kind === 'Namespace');
    const namespace = objects.find((o) => o.kind === 'Namespace')!;
    t.equal(namespace.metadata.labels!['pod-security.kubernetes.io/enforce'], 'baseline', `${overlay}: the namespace enforces baseline`);
    for (const object of objects.filter((o) => o.spec?.template)) {
      const pod = object.spec.template.spec;
      t.same(pod.volumes.filter((volume: any) => volume.hostPath), [], `${overlay}: no hostPath`);
      t.notOk(pod.hostNetwork || pod.hostPID || pod.hostIPC, `${overlay}: no host namespaces`);
      for (const container of pod.containers) {
        t.notOk(container.securityContext?.privileged);
        t.same(container.securityContext?.capabilities?.add ?? [], []);
        t.notOk(container.ports?.some((port: any) => port.hostPort));
      }
      t.not(pod.securityContext.seccompProfile.type, 'Unconfined');
    }
  }
  const device = speakerd(rendered['device-plugin']).spec.template.spec.containers[0].resources;
  t.same([device.requests['squat.ai/audio'], device.limits['squat.ai/audio']], ['1', '1'], 'device-plugin requests the card as an extended resource');
  const plugin = rendered['device-plugin'].find((o) => o.metadata.name === 'generic-device-plugin')!;
  t.equal(plugin.metadata.namespace, 'kube-system');
  t.match(plugin.spec.template.spec.containers[0].args.join(' '), /path: \/dev\/snd\/controlC\*[\s\S]*path: \/dev\/snd\/pcmC\*D\*p[\s\S]*path: \/dev\/snd\/timer/);

  const hostpath = rendered.hostpath;
  t.equal(hostpath.find((o) => o.kind === 'Namespace')!.metadata.labels!['pod-security.kubernetes.io/enforce'], 'privileged', 'hostpath relabels the namespace: hostPath breaks baseline');
  t.same(speakerd(hostpath).spec.template.spec.volumes.find((v: any) => v.name === 'snd'), { name: 'snd', hostPath: { path: '/dev/snd', type: 'Directory' } });
  t.equal(speakerd(rendered.headless).spec.template.spec.nodeSelector, undefined, 'headless runs on any node');
  t.equal(rendered.headless.find((o) => o.kind === 'ConfigMap')!.data.AUDIO_MODE, 'headless');
});

t.test('no workload is tied to an architecture: the DaemonSets schedule on amd64 and arm64 nodes alike (the image is multi-arch)', async (t) => {
  for (const [overlay, objects] of Object.entries(rendered)) {
    for (const workload of objects.filter((o) => o.kind === 'DaemonSet')) {
      const spec = workload.spec.template.spec;
      const selectors = JSON.stringify([spec.nodeSelector ?? {}, spec.affinity ?? {}]);
      t.notMatch(selectors, /kubernetes\.io\/arch|beta\.kubernetes\.io\/arch|kubernetes\.io\/os/, `${overlay}: ${workload.metadata.name} selects no architecture`);
    }
  }
});

t.test('recommended labels, a Service, the headless peers Service, and a NetworkPolicy that admits only the HTTP port and lets out only broadcasts to the peers', async (t) => {
  for (const [overlay, objects] of Object.entries(rendered)) {
    for (const object of objects.filter((o) => o.metadata.namespace === 'speakerd')) {
      t.match(object.metadata.labels, { 'app.kubernetes.io/name': 'speakerd', 'app.kubernetes.io/part-of': 'speakerd', 'app.kubernetes.io/component': 'audio-playback', 'app.kubernetes.io/version': '0.1.0' }, `${overlay}: ${object.kind} labels`);
    }
    const policy = objects.find((o) => o.kind === 'NetworkPolicy')!;
    t.same(policy.spec.ingress, [{ ports: [{ port: 'http', protocol: 'TCP' }] }]);
    const selector = { 'app.kubernetes.io/name': 'speakerd', 'app.kubernetes.io/part-of': 'speakerd' };
    t.same(policy.spec.egress, [
      { to: [{ podSelector: { matchLabels: selector } }], ports: [{ port: 'http', protocol: 'TCP' }] },
      { to: [{ namespaceSelector: {} }], ports: [{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }] },
    ], `${overlay}: egress only to the peers' HTTP port and to DNS`);
    const service = objects.find((o) => o.kind === 'Service' && o.metadata.name === 'speakerd')!;
    t.same(service.spec.ports, [{ name: 'http', port: 8080, targetPort: 'http', protocol: 'TCP' }]);
    const peers = objects.find((o) => o.kind === 'Service' && o.metadata.name === 'speakerd-peers')!;
    t.match(peers.spec, { clusterIP: 'None', publishNotReadyAddresses: false, selector, ports: [{ name: 'http', port: 8080, targetPort: 'http', protocol: 'TCP' }] }, `${overlay}: the headless Service PEERS_DNS names, ready pods only`);
    t.equal(objects.find((o) => o.kind === 'ServiceAccount')!.automountServiceAccountToken, false);
  }
});
