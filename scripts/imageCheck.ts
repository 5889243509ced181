/**
 * `npm run image:check`: the container image built and run on this machine,
 * the way an operator runs it.
 *
 * 1. The base: scripts/imageBase.sh (Debian root by mmdebstrap + Node and npm
 *    from the npm registry, cached by version), imported into a podman store
 *    of its own under the cache folder.
 * 2. The Dockerfile built on it (`--build-arg BASE_IMAGE=…`); its own `npm ci`
 *    steps reach the npm registry only. Layers are cached, so an unchanged
 *    tree rebuilds nothing.
 * 3. The image run against the local PostgreSQL and MongoDB-compatible server
 *    (host network), as its unprivileged user, with a read-only root
 *    filesystem, no tmpfs, no capabilities and no privilege escalation:
 *    `migrate`, then `run`; /readyz answers 200; postings written by the
 *    package's writer API arrive in MongoDB; SIGTERM stops it with exit 0.
 * 4. Prints the image size and the running container's RSS.
 *
 * Why these podman settings (found on this machine; see
 * docs/container-image.md): the sandbox withholds CAP_SYS_RESOURCE, so podman's
 * default rlimits (nofile/nproc raised to 1048576) fail with EPERM in the OCI
 * runtime: the container gets explicit limits below the caller's. crun 1.8
 * refuses the hybrid cgroup layout (v1 controllers plus a cgroup2 mount with
 * a controller): runc runs it. OUTBOX_RELAY_OCI_RUNTIME overrides the runtime.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { MongoClient } from 'mongodb';
import pg from 'pg';
import { createBalance, createPool, postTransaction } from '../src/index.ts';
import { metadataCollectionName } from '../src/sink/metadataSink.ts';

const execFileAsync = promisify(execFile);
const REPO = dirname(dirname(fileURLToPath(import.meta.url)));
const CACHE_DIR = process.env.OUTBOX_RELAY_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'outbox-relay');
// Per checkout and per run: two checkouts' CI on one machine neither retag
// each other's image nor drop each other's database.
const IMAGE = `localhost/outbox-relay:check-${createHash('sha256').update(REPO).digest('hex').slice(0, 12)}`;
const CHECK_DB = `outbox_relay_image_check_${process.pid}`;
const POSTINGS = 40;
const RUNTIME = process.env.OUTBOX_RELAY_OCI_RUNTIME ?? 'runc';

class CheckFailed extends Error {}

function log(message: string): void {
  process.stderr.write(`image:check: ${message}\n`);
}

function fail(message: string): never {
  throw new CheckFailed(message);
}

async function which(tool: string): Promise<boolean> {
  try {
    await execFileAsync('sh', ['-c', `command -v ${tool}`]);
    return true;
  } catch {
    return false;
  }
}

/** A store and run state of the check's own: never touches the machine's default podman store. */
function podmanGlobals(): string[] {
  const root = join(CACHE_DIR, 'podman', 'storage');
  // Run state under /run like podman's own default; one per store (podman records it in the store).
  const runroot = `/run/outbox-relay-podman-${createHash('sha256').update(root).digest('hex').slice(0, 12)}`;
  return ['--root', root, '--runroot', runroot, '--runtime', RUNTIME, '--cgroup-manager', 'cgroupfs', '--events-backend', 'file'];
}

/** Limits the OCI runtime may set without CAP_SYS_RESOURCE: at most the caller's own hard limits. */
async function ulimitFlags(): Promise<string[]> {
  const { stdout } = await execFileAsync('bash', ['-c', 'ulimit -Hn; ulimit -Hu']);
  const [files = 1024, procs = 1024] = stdout.trim().split('\n').map((l) => (l === 'unlimited' ? Number.POSITIVE_INFINITY : Number(l)));
  const nofile = Math.min(files, 16_384);
  const nproc = Math.min(procs, 4_096);
  return ['--ulimit', `nofile=${nofile}:${nofile}`, '--ulimit', `nproc=${nproc}:${nproc}`];
}

async function podman(args: string[], options: { inherit?: boolean; allowFail?: boolean } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawn('podman', [...podmanGlobals(), ...args], { stdio: ['ignore', options.inherit ? 'inherit' : 'pipe', options.inherit ? 'inherit' : 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (c) => resolve(c ?? -1));
  });
  if (code !== 0 && !options.allowFail) fail(`podman ${args.slice(0, 2).join(' ')} exited ${code}: ${stderr.trim().slice(-2000)}`);
  return { code, stdout, stderr };
}

async function services(): Promise<{ databaseUrl: string; mongoUrl: string }> {
  if (process.env.DATABASE_URL && process.env.MONGO_URL) return { databaseUrl: process.env.DATABASE_URL, mongoUrl: process.env.MONGO_URL };
  const { stdout } = await execFileAsync(process.execPath, [join(REPO, 'scripts/services.ts')], { maxBuffer: 1 << 20 });
  const read = (name: string): string => {
    const match = new RegExp(`^export ${name}='?([^'\\n]*)'?$`, 'm').exec(stdout);
    return match?.[1] ?? fail(`scripts/services.ts printed no ${name}`);
  };
  return { databaseUrl: read('DATABASE_URL'), mongoUrl: read('MONGO_URL') };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) fail(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const mib = (bytes: number): string => `${(bytes / 1_048_576).toFixed(1)} MiB`;

async function ensureBase(): Promise<string> {
  const { stdout } = await execFileAsync('bash', [join(REPO, 'scripts/imageBase.sh')], { maxBuffer: 1 << 20 }).catch((error: { stderr?: string }) => fail(`scripts/imageBase.sh failed: ${error.stderr ?? String(error)}`));
  const [key, tarball] = stdout.trim().split(' ');
  if (!key || !tarball) fail(`scripts/imageBase.sh printed ${JSON.stringify(stdout)}`);
  const tag = `localhost/outbox-relay-base:${key}`;
  if ((await podman(['image', 'exists', tag], { allowFail: true })).code !== 0) {
    log(`importing the base ${tag}`);
    const nodeVersion = /node-([\d.]+)-/.exec(key)?.[1] ?? '';
    await podman([
      'import',
      '--change', 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      '--change', `ENV NODE_VERSION=${nodeVersion}`,
      '--change', 'CMD ["node"]',
      tarball, tag,
    ]);
  }
  return withMachineCa(tag);
}

/**
 * This machine reaches the npm registry through a TLS-intercepting egress
 * whose CA only the host trusts (NODE_EXTRA_CA_CERTS, npm's cafile): without
 * it the build's `npm ci` fails with SELF_SIGNED_CERT_IN_CHAIN. That bundle
 * goes into one more layer on the local base, keyed by its hash; on a machine
 * without such a CA the base is used as it is. (A user's image, on the
 * Dockerfile's public base, has no such layer.)
 */
async function withMachineCa(base: string): Promise<string> {
  const caFile = process.env.NODE_EXTRA_CA_CERTS || (await execFileAsync('npm', ['config', 'get', 'cafile']).then((r) => r.stdout.trim(), () => ''));
  if (!caFile || caFile === 'null' || caFile === 'undefined') return base;
  const ca = readFileSync(caFile);
  const tag = `${base}-ca-${createHash('sha256').update(ca).digest('hex').slice(0, 12)}`;
  if ((await podman(['image', 'exists', tag], { allowFail: true })).code === 0) return tag;
  log(`layering this machine's CA bundle (${caFile}) onto the base as ${tag}`);
  const context = mkdtempSync(join(tmpdir(), 'outbox-relay-base-ca-'));
  try {
    writeFileSync(join(context, 'machine-ca.crt'), ca);
    writeFileSync(join(context, 'Containerfile'), [`FROM ${base}`, 'COPY machine-ca.crt /usr/local/share/outbox-relay/machine-ca.crt', 'ENV NODE_EXTRA_CA_CERTS=/usr/local/share/outbox-relay/machine-ca.crt', ''].join('\n'));
    await podman(['build', '-t', tag, '-f', join(context, 'Containerfile'), context]);
  } finally {
    rmSync(context, { recursive: true, force: true });
  }
  return tag;
}

/** One container's main process, seen from the host. */
async function containerPid(id: string): Promise<number> {
  const pid = Number((await podman(['inspect', '--format', '{{.State.Pid}}', id])).stdout.trim());
  if (!(pid > 0)) fail(`container ${id} has no process`);
  return pid;
}

function procStatus(pid: number, field: string): string {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(`${field}:`));
  return line?.slice(field.length + 1).trim() ?? fail(`/proc/${pid}/status has no ${field}`);
}

/** The container cgroup's memory in use (cgroup v1 or v2), or undefined when not readable. */
function cgroupMemory(pid: number): number | undefined {
  for (const line of readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n')) {
    const [, controllers, path] = line.split(':');
    try {
      if (controllers === 'memory') return Number(readFileSync(`/sys/fs/cgroup/memory${path}/memory.usage_in_bytes`, 'utf8'));
      if (controllers === '') return Number(readFileSync(`/sys/fs/cgroup${path}/memory.current`, 'utf8'));
    } catch {
      // this hierarchy is not readable here; try the next
    }
  }
  return undefined;
}

async function postSome(databaseUrl: string): Promise<string[]> {
  const pool = createPool(databaseUrl);
  try {
    for (const [account, allowNegative] of [['world', true], ['customer:1', false]] as const) {
      await createBalance(pool, { account, asset: 'EUR', allowNegative });
    }
    const ids: string[] = [];
    for (let i = 0; i < POSTINGS; i++) {
      const result = await postTransaction(pool, {
        idempotencyKey: `image-check:${i}`,
        description: `image check ${i}`,
        metadata: { check: 'image', n: i },
        entries: [
          { account: 'world', asset: 'EUR', direction: 'debit', amount: 100n, metadata: { memo: 'funding' } },
          { account: 'customer:1', asset: 'EUR', direction: 'credit', amount: 100n, metadata: { memo: 'top-up' } },
        ],
      });
      ids.push(result.transactionId);
    }
    return ids;
  } finally {
    await pool.end();
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  const missing = [];
  for (const tool of ['podman', RUNTIME, 'mmdebstrap']) if (!(await which(tool))) missing.push(tool);
  if (missing.length > 0) fail(`not installed: ${missing.join(', ')} (Debian packages: apt-get install podman runc mmdebstrap)`);
  mkdirSync(join(CACHE_DIR, 'podman'), { recursive: true });
  const ulimits = await ulimitFlags();

  const base = await ensureBase();
  log(`building the Dockerfile on ${base}`);
  const buildStart = Date.now();
  // docker format: OCI images drop HEALTHCHECK, which the Dockerfile declares.
  await podman(['build', '--format', 'docker', '--network', 'host', ...ulimits, '--layers', '--build-arg', `BASE_IMAGE=${base}`, '-t', IMAGE, '-f', join(REPO, 'Dockerfile'), REPO], { inherit: process.env.OUTBOX_RELAY_IMAGE_CHECK_QUIET !== '1' });
  const buildSeconds = (Date.now() - buildStart) / 1000;
  const imageSize = Number((await podman(['image', 'inspect', '--format', '{{.Size}}', IMAGE])).stdout.trim());
  const baseSize = Number((await podman(['image', 'inspect', '--format', '{{.Size}}', base])).stdout.trim());

  const { databaseUrl, mongoUrl } = await services();
  const checkUrl = new URL(databaseUrl);
  checkUrl.pathname = `/${CHECK_DB}`;
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${CHECK_DB} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${CHECK_DB}`);
  await admin.end();
  const mongo = new MongoClient(mongoUrl);
  await mongo.connect();
  await mongo.db(CHECK_DB).dropDatabase();

  const opsPort = await freePort();
  // Least privilege as an operator would set it: the image's own unprivileged
  // user, nothing writable (no tmpfs either: the relay writes no file), no
  // capabilities, no way to gain privileges.
  const hardening = ['--read-only', '--read-only-tmpfs=false', '--cap-drop=all', '--security-opt=no-new-privileges'];
  const env = ['-e', `DATABASE_URL=${checkUrl.href}`, '-e', `MONGO_URL=${mongoUrl}`, '-e', `MONGO_DB=${CHECK_DB}`, '-e', `OUTBOX_RELAY_OPS_PORT=${opsPort}`, '-e', 'OUTBOX_RELAY_LOG_FORMAT=json'];
  const common = ['--network', 'host', ...ulimits, ...hardening, ...env];

  const name = `outbox-relay-image-check-${process.pid}`;
  let id = '';
  try {
    log('migrate (in the container)');
    const migrate = await podman(['run', '--rm', ...common, IMAGE, 'migrate'], { allowFail: true });
    if (migrate.code !== 0) fail(`migrate exited ${migrate.code}: ${migrate.stderr.slice(-2000)}`);

    log('run (in the container)');
    // The image's HEALTHCHECK is run by hand below: podman's timer for it needs systemd, which this machine lacks.
    id = (await podman(['run', '-d', '--name', name, '--health-interval=disable', ...common, IMAGE, 'run'])).stdout.trim();
    const ready = await waitFor('/readyz to answer 200', 60_000, async () => {
      const response = await fetch(`http://127.0.0.1:${opsPort}/readyz`);
      return response.status === 200 ? response.status : undefined;
    });
    const health = await podman(['healthcheck', 'run', id], { allowFail: true });
    if (health.code !== 0) fail(`the image's HEALTHCHECK failed (exit ${health.code}): ${health.stdout}${health.stderr}`);
    const pid = await containerPid(id);
    const uid = procStatus(pid, 'Uid').split(/\s+/);
    if (uid.some((u) => u === '0')) fail(`the relay runs as root (Uid: ${uid.join(' ')})`);
    const capEff = procStatus(pid, 'CapEff');
    if (BigInt(`0x${capEff}`) !== 0n) fail(`the relay has capabilities (CapEff ${capEff})`);
    for (const path of ['/app/probe', '/tmp/probe']) {
      const write = await podman(['exec', id, 'sh', '-c', `: > ${path}`], { allowFail: true });
      if (write.code === 0) fail(`${path} is writable in the container`);
    }

    const ids = await postSome(checkUrl.href);
    const deliverStart = Date.now();
    const collection = mongo.db(CHECK_DB).collection(metadataCollectionName('transaction'));
    await waitFor(`${POSTINGS} transaction documents in MongoDB`, 60_000, async () => ((await collection.countDocuments({ _id: { $in: ids } } as never)) === ids.length ? true : undefined));
    const deliveredMs = Date.now() - deliverStart;
    const sample = await collection.findOne({ _id: ids[0] } as never);
    if (JSON.stringify(sample).indexOf('"check":"image"') === -1) fail(`the delivered document lacks its metadata: ${JSON.stringify(sample)}`);

    const rss = `${procStatus(pid, 'VmRSS')} (anonymous ${procStatus(pid, 'RssAnon')}, file-backed ${procStatus(pid, 'RssFile')})`;
    const cgroup = cgroupMemory(pid);

    log('SIGTERM');
    const stopStart = Date.now();
    await podman(['kill', '--signal', 'TERM', id]);
    const exit = Number((await podman(['wait', id])).stdout.trim());
    const stopMs = Date.now() - stopStart;
    if (exit !== 0) fail(`the relay exited ${exit} after SIGTERM`);

    console.log(
      [
        `image:check: ok in ${((Date.now() - started) / 1000).toFixed(0)} s (build ${buildSeconds.toFixed(0)} s)`,
        `  image ${IMAGE}: ${mib(imageSize)} (base ${base}: ${mib(baseSize)})`,
        `  runtime ${RUNTIME}, host network, uid ${uid[0]}, CapEff ${capEff}, read-only root, no tmpfs`,
        `  migrate exit 0; /readyz ${ready}; HEALTHCHECK healthy; ${POSTINGS} postings delivered to MongoDB in ${deliveredMs} ms`,
        `  relay RSS ${rss} (container cgroup memory ${cgroup === undefined ? 'not readable' : mib(cgroup)})`,
        `  SIGTERM -> exit ${exit} in ${stopMs} ms`,
      ].join('\n'),
    );
  } catch (error) {
    // The relay's own account of what went wrong, before its container goes.
    if (id) {
      const logs = await podman(['logs', '--tail', '40', id], { allowFail: true });
      log(`the relay's last log lines:\n${logs.stdout}${logs.stderr}`);
    }
    throw error;
  } finally {
    if (id) await podman(['rm', '-f', id], { allowFail: true });
    await mongo.db(CHECK_DB).dropDatabase().catch(() => undefined);
    await mongo.close();
    const cleanup = new pg.Client({ connectionString: databaseUrl });
    await cleanup.connect();
    await cleanup.query(`DROP DATABASE IF EXISTS ${CHECK_DB} WITH (FORCE)`);
    await cleanup.end();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`image:check: FAILED: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
