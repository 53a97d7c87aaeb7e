/**
 * docker-compose.yml, the Dockerfile and deploy/ describe Keel in production, but no Docker
 * engine runs on Keel's development or CI machines. These tests hold those files to the code
 * instead: the variables Keel reads, the files its commands run, the packages that survive
 * `npm prune --omit=dev`, the ports nginx reaches, the search attributes workflows use.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, posix, relative, resolve } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { ConfigSchema, loadConfig, type Config } from '../src/config';
import { KEEL_SEARCH_ATTRIBUTES } from '../src/shared';

const ROOT = resolve(__dirname, '..');
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

// The subset of the Compose specification these tests read; everything else passes through.
const StringOrList = z.union([z.string(), z.array(z.string())]);
const ServiceSchema = z.looseObject({
  image: z.string().optional(),
  build: z.unknown().optional(),
  command: StringOrList.optional(),
  entrypoint: StringOrList.optional(),
  environment: z
    .union([z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])), z.array(z.string())])
    .optional(),
  ports: z.array(z.union([z.string(), z.number(), z.looseObject({ target: z.coerce.number(), published: z.coerce.string().optional() })])).optional(),
  expose: z.array(z.coerce.string()).optional(),
  container_name: z.string().optional(),
  depends_on: z
    .union([z.array(z.string()), z.record(z.string(), z.looseObject({ condition: z.string().optional() }))])
    .optional(),
  healthcheck: z.looseObject({ test: StringOrList.optional(), disable: z.boolean().optional() }).optional(),
  volumes: z.array(z.union([z.string(), z.looseObject({ source: z.string().optional(), target: z.string() })])).optional(),
  profiles: z.array(z.string()).optional(),
});
type Service = z.infer<typeof ServiceSchema>;
const ComposeSchema = z.looseObject({ services: z.record(z.string(), ServiceSchema) });

const compose = ComposeSchema.parse(parse(read('docker-compose.yml'), { merge: true }));
const services = compose.services;

function service(name: string): Service {
  const s = services[name];
  assert.ok(s, `docker-compose.yml has no service "${name}"`);
  return s;
}

/**
 * Compose interpolation as `docker compose` does it with nothing set in the environment:
 * `${VAR:-default}` and `${VAR-default}` become the default, `${VAR}` and `$VAR` become empty,
 * `$$` is a literal `$`, and `${VAR:?message}` fails, since the stack could not start.
 */
function interpolate(value: string): string {
  return value.replace(
    /\$\$|\$\{([A-Za-z_]\w*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_]\w*)/g,
    (match, name: string | undefined, op: string | undefined, arg: string | undefined) => {
      if (match === '$$') return '$';
      if (op === ':?' || op === '?') throw new Error(`docker-compose.yml requires ${name ?? '?'} to be set: ${arg ?? ''}`);
      return op ? interpolate(arg ?? '') : '';
    },
  );
}

/** A service's environment with names as written and values interpolated with defaults. */
function environment(s: Service): Record<string, string> {
  const env = s.environment ?? {};
  const entries = Array.isArray(env)
    ? env.map((line): [string, string | null] => {
        const eq = line.indexOf('=');
        return eq === -1 ? [line, null] : [line.slice(0, eq), line.slice(eq + 1)];
      })
    : Object.entries(env).map(([k, v]): [string, string | null] => [k, v === null ? null : String(v)]);
  // A name without a value passes the host's through; with an empty host that is "unset".
  return Object.fromEntries(entries.filter((e): e is [string, string] => e[1] !== null).map(([k, v]) => [k, interpolate(v)]));
}

/** What Keel's own loader makes of a service's environment (it treats "" as unset). */
function keelConfig(name: string): Config {
  return loadConfig(environment(service(name)));
}

function dependsOn(s: Service): Record<string, string> {
  const d = s.depends_on ?? {};
  if (Array.isArray(d)) return Object.fromEntries(d.map((n) => [n, 'service_started']));
  return Object.fromEntries(Object.entries(d).map(([n, v]) => [n, v.condition ?? 'service_started']));
}

function publishedPorts(s: Service): Array<{ published: string | undefined; target: number }> {
  return (s.ports ?? []).map((p) => {
    if (typeof p === 'object') return { published: p.published === undefined ? undefined : interpolate(p.published), target: p.target };
    const parts = interpolate(String(p)).replace(/\/(tcp|udp)$/, '').split(':');
    return { published: parts.length > 1 ? parts[parts.length - 2] : undefined, target: Number(parts[parts.length - 1]) };
  });
}

function asList(v: string | string[] | undefined): string[] {
  if (v === undefined) return [];
  return Array.isArray(v) ? v.map(interpolate) : ['/bin/sh', '-c', interpolate(v)];
}

// ---- Dockerfile --------------------------------------------------------------------------

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  name: string | undefined;
  base: string;
  instructions: Instruction[];
}

function parseDockerfile(text: string): Stage[] {
  const logical = text
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const line of logical) {
    const [, op = '', args = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const upper = op.toUpperCase();
    if (upper === 'FROM') {
      const m = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      assert.ok(m?.[1], `Dockerfile: cannot read "FROM ${args}"`);
      const base = m[1].replace(/\$\{?(\w+)\}?/g, (_, n: string) => globalArgs[n] ?? '');
      stages.push({ name: m[2], base, instructions: [] });
    } else if (upper === 'ARG' && stages.length === 0) {
      const [name = '', value = ''] = args.split('=', 2);
      globalArgs[name] = value;
    } else {
      stages.at(-1)?.instructions.push({ op: upper, args });
    }
  }
  return stages;
}

const dockerfile = parseDockerfile(read('Dockerfile'));
const runtimeStage = dockerfile.at(-1)!;
const instructions = (stage: Stage, op: string) => stage.instructions.filter((i) => i.op === op);

function execForm(i: Instruction | undefined): string[] | undefined {
  if (!i) return undefined;
  const parsed = z.array(z.string()).safeParse(JSON.parse(i.args.startsWith('[') ? i.args : 'null'));
  assert.ok(parsed.success, `Dockerfile: ${i.op} must use the JSON (exec) form so signals reach node: ${i.op} ${i.args}`);
  return parsed.data;
}

/** What a service built from the Dockerfile actually runs: compose overrides, else the image. */
function effectiveCommand(s: Service): string[] {
  const entrypoint = s.entrypoint !== undefined ? asList(s.entrypoint) : (execForm(instructions(runtimeStage, 'ENTRYPOINT').at(-1)) ?? []);
  const command = s.command !== undefined ? asList(s.command) : (execForm(instructions(runtimeStage, 'CMD').at(-1)) ?? []);
  return [...entrypoint, ...command];
}

const WORKDIR = instructions(runtimeStage, 'WORKDIR').at(-1)?.args ?? '/';

/** Repository paths the runtime image receives: from the build context, or built from it. */
const shippedPaths = instructions(runtimeStage, 'COPY').flatMap((i) => {
  const words = i.args.split(/\s+/);
  const from = words.find((w) => w.startsWith('--from='));
  const sources = words.filter((w) => !w.startsWith('--')).slice(0, -1);
  return sources.map((src) => ({
    path: from ? posix.relative(WORKDIR, src) : posix.normalize(src).replace(/\/$/, ''),
    fromContext: !from,
  }));
});

const dockerignore = read('.dockerignore')
  .split(/\r?\n/)
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'))
  .map((l) => {
    const negated = l.startsWith('!');
    const glob = posix.normalize((negated ? l.slice(1) : l).replace(/^\//, '')).replace(/\/$/, '');
    const source = glob
      .split('**')
      .map((part) => part.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]'))
      .join('.*');
    return { negated, re: new RegExp(`^${source}$`) };
  });

/** .dockerignore semantics: the last pattern matching the path or one of its parents wins. */
function ignoredByDocker(file: string): boolean {
  const prefixes = file.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/'));
  let ignored = false;
  for (const rule of dockerignore) if (prefixes.some((p) => rule.re.test(p))) ignored = !rule.negated;
  return ignored;
}

function shipsInImage(file: string): boolean {
  return shippedPaths.some(
    (s) => (s.path === '.' || file === s.path || file.startsWith(`${s.path}/`)) && !(s.fromContext && ignoredByDocker(file)),
  );
}

// ---- What survives `npm prune --omit=dev` ----------------------------------------------

const LockSchema = z.object({
  packages: z.record(z.string(), z.looseObject({ dev: z.boolean().optional(), devOptional: z.boolean().optional() })),
});
const lock = LockSchema.parse(JSON.parse(read('package-lock.json')));
/**
 * The Dockerfile drops devDependencies before pruning, so what stays is what the lock file
 * marks neither `dev` nor `devOptional` (the latter: reached from devDependencies and from an
 * optional peer, like the Prisma CLI from @prisma/client).
 */
const inProductionTree = (pkg: string) => {
  const entry = lock.packages[`node_modules/${pkg}`];
  return entry !== undefined && !entry.dev && !entry.devOptional;
};
const builtins = new Set(builtinModules);

function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? specifier);
}

function resolveRelative(fromFile: string, specifier: string): string | undefined {
  const base = resolve(dirname(fromFile), specifier);
  const candidates = [base, `${base}.ts`, join(base, 'index.ts'), base.replace(/\.js$/, '.ts')];
  return candidates.find((c) => existsSync(c) && statSync(c).isFile());
}

/** Specifiers a module loads at run time; `import type` / `export type` vanish when compiled. */
function runtimeSpecifiers(source: string): string[] {
  const patterns = [
    /^\s*import\s+(?!type\s)[^;]*?\sfrom\s+['"]([^'"]+)['"]/gm,
    /^\s*import\s+['"]([^'"]+)['"]/gm,
    /^\s*export\s+(?!type\s)[^;]*?\sfrom\s+['"]([^'"]+)['"]/gm,
    /\b(?:require(?:\.resolve)?|import)\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  return patterns.flatMap((re) => [...source.matchAll(re)].map((m) => m[1] ?? ''));
}

/** Every file an entry point loads, and every problem the pruned image would have with it. */
function walkImports(entry: string): { files: string[]; problems: string[] } {
  const seen = new Set<string>();
  const problems: string[] = [];
  const queue = [join(ROOT, entry)];
  for (let file = queue.pop(); file !== undefined; file = queue.pop()) {
    if (seen.has(file)) continue;
    seen.add(file);
    if (!/\.[cm]?[jt]s$/.test(file)) continue;
    const from = relative(ROOT, file);
    for (const specifier of runtimeSpecifiers(readFileSync(file, 'utf8'))) {
      if (specifier.startsWith('.')) {
        const target = resolveRelative(file, specifier);
        if (target) queue.push(target);
        else problems.push(`${from}: '${specifier}' does not resolve to a file`);
      } else if (!builtins.has(specifier.replace(/^node:/, '')) && !inProductionTree(packageName(specifier))) {
        problems.push(`${from}: '${specifier}' is not installed after npm prune --omit=dev (devDependency or missing)`);
      }
    }
  }
  return { files: [...seen].map((f) => relative(ROOT, f)), problems };
}

// ---- nginx -----------------------------------------------------------------------------

const withoutComments = (conf: string) => conf.replace(/#[^\n]*/g, '');
const nginxConf = withoutComments(read('deploy/nginx.conf'));
const uiGatewayConf = withoutComments(read('deploy/ui-gateway.conf.template'));
const directivesIn = (conf: string, name: string) => [...conf.matchAll(new RegExp(`(?<=^|[;{}])\\s*${name}\\s+([^;{]+);`, 'g'))].map((m) => (m[1] ?? '').trim());
const directives = (name: string) => directivesIn(nginxConf, name);

/** The `location` blocks of an nginx server (no nesting), by their path; `${VAR}` of a template is not a brace. */
function nginxLocations(conf: string): Record<string, string> {
  return Object.fromEntries([...conf.matchAll(/location\s+(\S+)\s*\{((?:\$\{\w+\}|[^}])*)\}/g)].map((m) => [m[1] ?? '', m[2] ?? '']));
}

/** host:port pairs that proxy_pass sends to, through `set $var` and `upstream` blocks. */
function nginxProxyTargets(conf = nginxConf, within = conf): string[] {
  const directives = (name: string) => directivesIn(conf, name);
  const vars = Object.fromEntries(
    directives('set').map((d) => {
      const [name = '', ...value] = d.split(/\s+/);
      return [name, value.join(' ')];
    }),
  );
  const upstreams = Object.fromEntries(
    [...conf.matchAll(/upstream\s+(\S+)\s*\{([^}]*)\}/g)].map((m) => [
      m[1] ?? '',
      [...(m[2] ?? '').matchAll(/\bserver\s+(\S+)[^;]*;/g)].map((s) => s[1] ?? ''),
    ]),
  );
  return directivesIn(within, 'proxy_pass').flatMap((pass) => {
    const host = pass.replace(/^https?:\/\//, '').replace(/\$\w+/g, (v) => vars[v] ?? v).replace(/\/.*$/, '');
    return upstreams[host] ?? [host];
  });
}

function nginxBytes(size: string): number {
  const m = /^(\d+)([kmg]?)$/i.exec(size.trim());
  assert.ok(m, `nginx size "${size}" not understood`);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(m[2] ?? '').toLowerCase()] ?? 1;
  return Number(m[1]) * unit;
}

// ---- The tests -----------------------------------------------------------------------------

const KEEL_PROCESSES = ['api', 'worker', 'model', 'migrate'] as const;
const ENTRY_POINTS: Record<(typeof KEEL_PROCESSES)[number], string> = {
  api: 'src/api/main.ts',
  worker: 'src/worker/main.ts',
  model: 'src/model-server/main.ts',
  migrate: 'scripts/migrate.ts',
};

describe('docker-compose.yml', () => {
  it('gives Keel processes only variables that src/config.ts reads', () => {
    const known = new Set(Object.keys(ConfigSchema.shape));
    const unknown = KEEL_PROCESSES.flatMap((name) =>
      Object.keys(environment(service(name)))
        .filter((v) => !known.has(v))
        .map((v) => `${name}: ${v}`),
    );
    assert.deepEqual(unknown, [], 'variables Keel never reads (typo, or add them to ConfigSchema first)');
  });

  it('gives Keel processes a configuration that parses with the compose defaults', () => {
    for (const name of KEEL_PROCESSES) {
      const env = Object.fromEntries(Object.entries(environment(service(name))).filter(([, v]) => v !== ''));
      const parsed = ConfigSchema.safeParse(env);
      assert.ok(parsed.success, `${name}: ${parsed.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    }
    assert.equal(keelConfig('api').NODE_ENV, 'production');
    assert.equal(keelConfig('worker').NODE_ENV, 'production');
  });

  it('makes the API and the model server listen beyond the container loopback', () => {
    assert.equal(keelConfig('api').KEEL_API_HOST, '0.0.0.0');
    assert.equal(keelConfig('model').KEEL_OFFLINE_MODEL_HOST, '0.0.0.0');
  });

  it('points api and worker at the bundled model server when no model endpoint is set', () => {
    const modelPort = keelConfig('model').KEEL_OFFLINE_MODEL_PORT;
    for (const name of ['api', 'worker']) {
      const { llm } = keelConfig(name);
      assert.equal(llm.offline, true, `${name} should be in offline mode by default`);
      assert.equal(llm.baseURL, `http://model:${modelPort}/v1`, `${name} calls the model service`);
    }
    assert.ok(service('model').expose?.includes(String(modelPort)), 'model exposes its port on the internal network');
  });

  it('gives api and worker the same Keel environment (shared anchor)', () => {
    const api = environment(service('api'));
    const worker = environment(service('worker'));
    const shared = Object.keys(api).filter((k) => k in worker);
    for (const k of ['DATABASE_URL', 'REDIS_URL', 'TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', 'OPENAI_BASE_URL', 'OPENAI_API_KEY', 'KEEL_MODEL']) {
      assert.ok(shared.includes(k), `api and worker both set ${k}`);
      assert.equal(api[k], worker[k], `api and worker agree on ${k}`);
    }
    assert.equal(environment(service('migrate')).DATABASE_URL, api.DATABASE_URL, 'migrate migrates the database the API uses');
  });

  it('lets api and worker scale: no container_name, no published ports', () => {
    for (const name of ['api', 'worker']) {
      const s = service(name);
      assert.equal(s.container_name, undefined, `${name} has a container_name, so --scale ${name}=N fails`);
      assert.deepEqual(s.ports ?? [], [], `${name} publishes host ports, so --scale ${name}=N collides`);
    }
    // The model server's /_control endpoints inject faults: never on the host.
    assert.deepEqual(service('model').ports ?? [], [], 'model must not be published');
  });

  it('publishes the load balancer on 3000 and proxies to the API port', () => {
    const lb = service('lb');
    const lbPorts = publishedPorts(lb);
    assert.ok(lbPorts.some((p) => p.published === '3000'), `lb publishes host port 3000, has ${JSON.stringify(lbPorts)}`);
    assert.ok(
      (lb.volumes ?? []).some((v) => typeof v === 'string' && v.startsWith('./deploy/nginx.conf:/etc/nginx/nginx.conf')),
      'lb mounts deploy/nginx.conf',
    );

    const listen = directives('listen').map((l) => Number(l.split(/\s+/)[0]?.split(':').at(-1)));
    for (const p of lbPorts) assert.ok(listen.includes(p.target), `nginx listens on ${p.target}, the port lb publishes`);

    const apiPort = keelConfig('api').KEEL_API_PORT;
    const targets = nginxProxyTargets();
    assert.ok(targets.length > 0, 'nginx proxies somewhere');
    assert.deepEqual([...new Set(targets)], [`api:${apiPort}`], 'nginx proxies to the api service on KEEL_API_PORT');
    assert.ok(directives('resolver').some((r) => r.split(/\s+/).includes('127.0.0.11')), "nginx re-resolves `api` with Docker's DNS");
    assert.ok(directives('proxy_set_header').some((h) => /^X-Request-Id\s/i.test(h)), 'nginx passes X-Request-Id');

    const publicUrl = keelConfig('api').KEEL_PUBLIC_URL;
    if (publicUrl) assert.equal(new URL(publicUrl).port || '80', lbPorts[0]?.published, 'KEEL_PUBLIC_URL is the load balancer');
  });

  it('lets the API, not nginx, refuse oversized bodies (problem+json)', () => {
    const [limit] = directives('client_max_body_size');
    assert.ok(limit, 'nginx sets client_max_body_size');
    const apiLimit = keelConfig('api').KEEL_MAX_BODY_BYTES;
    assert.ok(nginxBytes(limit) > apiLimit, `nginx limit ${limit} must exceed KEEL_MAX_BODY_BYTES=${apiLimit}`);
  });

  it('checks the API health at /readyz on its port', () => {
    const test = asList(service('api').healthcheck?.test).join(' ');
    assert.match(test, new RegExp(`127\\.0\\.0\\.1:${keelConfig('api').KEEL_API_PORT}/readyz`));
  });

  it('names only existing services in depends_on, with conditions they can meet', () => {
    const problems: string[] = [];
    for (const [name, s] of Object.entries(services)) {
      for (const [dep, condition] of Object.entries(dependsOn(s))) {
        const target = services[dep];
        if (!target) {
          problems.push(`${name} depends on unknown service ${dep}`);
          continue;
        }
        if (!['service_started', 'service_healthy', 'service_completed_successfully'].includes(condition)) {
          problems.push(`${name} → ${dep}: unknown condition ${condition}`);
        }
        if (condition === 'service_healthy' && (!target.healthcheck?.test || target.healthcheck.disable)) {
          problems.push(`${name} waits for ${dep} to be healthy, but ${dep} has no healthcheck`);
        }
        if (target.profiles?.length && !s.profiles?.length) problems.push(`${name} depends on ${dep}, which only runs in a profile`);
      }
    }
    assert.deepEqual(problems, []);
  });

  it('bind-mounts only files that exist', () => {
    const missing = Object.entries(services).flatMap(([name, s]) =>
      (s.volumes ?? [])
        .map((v) => (typeof v === 'string' ? v.split(':')[0] : v.source) ?? '')
        .filter((src) => src.startsWith('.') && !existsSync(join(ROOT, src)))
        .map((src) => `${name}: ${src}`),
    );
    assert.deepEqual(missing, []);
  });

  it('creates, in Postgres, the roles and databases that Keel and Temporal log in to', () => {
    const initMount = (service('postgres').volumes ?? []).find((v) => typeof v === 'string' && v.includes('/docker-entrypoint-initdb.d/'));
    assert.ok(typeof initMount === 'string', 'postgres mounts an init script');
    const sql = read(initMount.split(':')[0] ?? '');
    const roles = new Set([...sql.matchAll(/CREATE ROLE (\w+)/gi)].map((m) => m[1]));
    const databases = new Map([...sql.matchAll(/CREATE DATABASE (\w+) OWNER (\w+)/gi)].map((m) => [m[1], m[2]]));
    const postgresEnv = environment(service('postgres'));

    const url = new URL(keelConfig('api').DATABASE_URL);
    const keelDb = url.pathname.slice(1);
    assert.equal(url.hostname, 'postgres');
    assert.ok(roles.has(url.username), `init script creates role ${url.username}`);
    assert.equal(databases.get(keelDb), url.username, `init script creates database ${keelDb} owned by ${url.username}`);
    assert.equal(decodeURIComponent(url.password), postgresEnv.KEEL_DB_PASSWORD, "Keel's password is the one the role gets");

    const temporal = environment(service('temporal'));
    const temporalUser = temporal.POSTGRES_USER ?? '';
    assert.ok(roles.has(temporalUser), `init script creates role ${temporalUser}`);
    for (const db of [temporal.DBNAME, temporal.VISIBILITY_DBNAME]) {
      assert.equal(databases.get(db ?? ''), temporalUser, `init script creates ${db} for Temporal`);
    }
    assert.equal(temporal.SKIP_DB_CREATE, 'true', 'auto-setup must not try to create databases it has no right to');
    assert.equal(temporal.POSTGRES_PWD, postgresEnv.TEMPORAL_DB_PASSWORD, "Temporal's password is the one the role gets");
  });

  it('serves the Temporal UI where Keel links to it, on the namespace Keel uses, only behind sign-in', () => {
    const keel = keelConfig('api');
    const ui = service('temporal-ui');
    assert.deepEqual(publishedPorts(ui), [], 'the UI itself is never published');
    const auth = environment(service('ui-auth'));
    const authPort = Number(auth.OAUTH2_PROXY_HTTP_ADDRESS?.split(':').at(-1));
    assert.ok(
      publishedPorts(service('ui-auth')).some((p) => p.target === authPort && p.published === new URL(keel.TEMPORAL_UI_URL).port),
      'the sign-in proxy publishes the UI on the port of TEMPORAL_UI_URL',
    );
    assert.equal(auth.OAUTH2_PROXY_PROVIDER, 'oidc');
    assert.equal(auth.OAUTH2_PROXY_REDIRECT_URL, `${keel.TEMPORAL_UI_URL}/oauth2/callback`);
    assert.equal(auth.OAUTH2_PROXY_COOKIE_SECURE, 'true', 'the sign-in cookie is https-only unless the operator says otherwise');
    assert.equal(auth.OAUTH2_PROXY_EMAIL_DOMAINS, '', 'nobody is let in until the operator says who');
    const gatewayPort = Number(directivesIn(uiGatewayConf, 'listen')[0]);
    assert.equal(auth.OAUTH2_PROXY_UPSTREAMS, `http://ui-gateway:${gatewayPort}/`, 'signed-in requests go to the gateway');
    assert.deepEqual(publishedPorts(service('ui-gateway')), [], 'the gateway is reachable only through the sign-in proxy');
    assert.equal(environment(ui).TEMPORAL_ADDRESS, keel.TEMPORAL_ADDRESS);
    assert.equal(environment(service('temporal')).DEFAULT_NAMESPACE, keel.TEMPORAL_NAMESPACE, 'auto-setup creates the namespace Keel uses');
  });

  it("decodes in the UI through the API's /codec with an operator key the browser never sees", () => {
    const keel = keelConfig('api');
    const ui = environment(service('temporal-ui'));
    assert.equal(ui.TEMPORAL_CODEC_ENDPOINT, `${keel.TEMPORAL_UI_URL}/codec`, 'the codec is on the UI origin: no CORS, no key in the browser');
    assert.equal(ui.TEMPORAL_CODEC_PASS_ACCESS_TOKEN, 'false');
    const gateway = service('ui-gateway');
    assert.ok(
      (gateway.volumes ?? []).some((v) => typeof v === 'string' && v.startsWith('./deploy/ui-gateway.conf.template:/etc/nginx/templates/')),
      'the gateway renders deploy/ui-gateway.conf.template',
    );
    assert.ok('KEEL_UI_CODEC_KEY' in environment(gateway), 'the gateway gets the operator key from the environment');
    const locations = nginxLocations(uiGatewayConf);
    assert.ok(locations['/codec/'] && locations['/'], 'the gateway routes /codec/ and everything else');
    assert.deepEqual(nginxProxyTargets(uiGatewayConf, locations['/codec/']), [`api:${keel.KEEL_API_PORT}`], '/codec/ goes to the API, path unchanged');
    assert.ok(directivesIn(locations['/codec/'], 'proxy_pass').every((p) => !/\/\S/.test(p.replace(/^https?:\/\//, ''))), 'proxy_pass keeps the /codec/ path');
    assert.match(locations['/codec/'], /proxy_set_header\s+Authorization\s+"Bearer \$\{KEEL_UI_CODEC_KEY\}";/, 'the gateway adds the operator key');
    assert.deepEqual(nginxProxyTargets(uiGatewayConf, locations['/']), ['temporal-ui:8080']);
    assert.ok((service('temporal-ui').expose ?? []).includes('8080'));
  });

  it('registers exactly the search attributes Keel defines, before Keel starts', () => {
    const registrars = Object.entries(services).filter(([, s]) => asList(s.command).join(' ').includes('search-attribute create'));
    assert.equal(registrars.length, 1, 'one service registers search attributes');
    const [name, registrar] = registrars[0]!;
    const env = environment(registrar);
    const script = asList(registrar.command).join(' ');
    assert.match(registrar.image ?? '', /^temporalio\/admin-tools:/);
    assert.match(script, /for attr in \$KEEL_SEARCH_ATTRIBUTES\b/, 'the script registers the list it is given');
    assert.match(script, /--namespace "\$TEMPORAL_NAMESPACE"/);
    assert.equal(env.TEMPORAL_NAMESPACE, keelConfig('api').TEMPORAL_NAMESPACE, 'registered in the namespace Keel uses');

    const cliType: Record<string, string> = {
      KEYWORD: 'Keyword', TEXT: 'Text', INT: 'Int', DOUBLE: 'Double', BOOL: 'Bool', DATETIME: 'Datetime', KEYWORD_LIST: 'KeywordList',
    };
    const registered = (env.KEEL_SEARCH_ATTRIBUTES ?? '').split(/\s+/).filter(Boolean).sort();
    const defined = KEEL_SEARCH_ATTRIBUTES.map((a) => `${a.name}=${cliType[a.type] ?? a.type}`).sort();
    assert.deepEqual(registered, defined);

    assert.equal(dependsOn(registrar).temporal, 'service_healthy');
    for (const app of ['api', 'worker']) {
      assert.equal(dependsOn(service(app))[name], 'service_completed_successfully', `${app} starts after ${name}`);
    }
  });

  it('runs each Keel process from its entry point, with tsx, in the Keel image', () => {
    for (const name of KEEL_PROCESSES) {
      const s = service(name);
      assert.ok(s.build !== undefined, `${name} is built from the Dockerfile`);
      const cmd = effectiveCommand(s);
      assert.deepEqual(cmd, ['node', '--import', 'tsx', ENTRY_POINTS[name]], `${name} runs ${ENTRY_POINTS[name]}`);
    }
    const images = new Set(KEEL_PROCESSES.map((n) => service(n).image));
    assert.equal(images.size, 1, 'one image for every Keel process');
  });

  it('runs commands whose files exist and ship in the image', () => {
    const referenced = new Set<string>();
    const cmd = execForm(instructions(runtimeStage, 'CMD').at(-1));
    for (const word of cmd ?? []) if (/\.[cm]?[jt]s$/.test(word)) referenced.add(word);
    for (const s of Object.values(services).filter((x) => x.build !== undefined)) {
      for (const word of effectiveCommand(s)) if (/\.[cm]?[jt]s$/.test(word)) referenced.add(word);
    }
    const missing = [...referenced].filter((f) => !existsSync(join(ROOT, f)));
    const notShipped = [...referenced].filter((f) => !shipsInImage(f));
    assert.deepEqual({ missing, notShipped }, { missing: [], notShipped: [] });
  });

  it('loads at run time only files the image has and packages that survive npm prune --omit=dev', () => {
    const problems: string[] = [];
    for (const word of effectiveCommand(service('api')).concat(effectiveCommand(service('worker')))) {
      if (!word.startsWith('-') && !word.includes('/') && word !== 'node' && !inProductionTree(word)) {
        problems.push(`--import ${word} is not installed after npm prune --omit=dev`);
      }
    }
    for (const entry of Object.values(ENTRY_POINTS).filter((e) => existsSync(join(ROOT, e)))) {
      const walked = walkImports(entry);
      problems.push(...walked.problems);
      problems.push(...walked.files.filter((f) => !shipsInImage(f)).map((f) => `${f} (loaded by ${entry}) is not in the image`));
    }
    assert.deepEqual([...new Set(problems)].sort(), []);
  });
});

describe('Dockerfile', () => {
  it('builds on Node 24 (bookworm-slim), the version Keel declares', () => {
    const nvmMajor = read('.nvmrc').trim().split('.')[0];
    for (const stage of dockerfile) assert.match(stage.base, new RegExp(`^node:${nvmMajor}-bookworm-slim$`));
  });

  it('runs as a non-root user with NODE_ENV=production and leaves health checks to compose', () => {
    const user = instructions(runtimeStage, 'USER').at(-1)?.args;
    assert.ok(user && !/^(root|0)(:|$)/.test(user), `runtime USER is ${user ?? 'unset (root)'}`);
    assert.ok(instructions(runtimeStage, 'ENV').some((e) => /\bNODE_ENV=production\b/.test(e.args)));
    assert.deepEqual(dockerfile.flatMap((s) => instructions(s, 'HEALTHCHECK')), []);
  });

  it('generates the Prisma client before pruning dev dependencies, and keeps optional ones', () => {
    const runs = dockerfile.flatMap((s) => instructions(s, 'RUN').map((r) => r.args)).join('\n');
    const generate = runs.search(/prisma\S*\s+generate\b/);
    const dropDev = runs.search(/npm pkg delete devDependencies\b/);
    const prune = runs.search(/npm prune --omit=dev\b/);
    assert.ok(generate !== -1 && prune !== -1 && generate < prune, 'prisma generate, then npm prune --omit=dev');
    assert.ok(dropDev !== -1 && generate < dropDev && dropDev < prune, 'devDependencies leave package.json before the prune');
    assert.doesNotMatch(runs, /--omit[= ]optional|--no-optional/, 'optional dependencies carry @swc/core and esbuild binaries');
    assert.ok(shipsInImage('src/generated/prisma/client.ts'), 'the generated client reaches the runtime image');
    assert.ok(shipsInImage('prisma/migrations/0_init/migration.sql'), 'migrate reads prisma/migrations at run time');
  });

  it('keeps secrets and local state out of the build context', () => {
    for (const path of ['.env', 'node_modules/x', '.data/temporal.sqlite', '.git/config', 'src/generated/prisma/client.ts']) {
      assert.ok(ignoredByDocker(path), `.dockerignore should exclude ${path}`);
    }
    assert.ok(!ignoredByDocker('src/api/main.ts') && !ignoredByDocker('prisma/schema.prisma'));
  });
});
