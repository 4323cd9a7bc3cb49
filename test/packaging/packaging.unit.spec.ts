import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The image, the Nest project list and the compose file, read as the tools would read them
// (there is no Docker engine on the build machine to build the image and look inside).

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const read = (file: string): string => readFileSync(join(repoRoot, file), 'utf8');

interface Copy {
  from: string | undefined;
  sources: string[];
  destination: string;
}

interface Stage {
  name: string | undefined;
  workdir: string;
  copies: Copy[];
}

/** The stages of a Dockerfile with their COPY instructions (destinations made absolute). */
function stagesOf(dockerfile: string): Stage[] {
  const stages: Stage[] = [];
  for (const raw of dockerfile.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || line === '') continue;
    const [instruction = '', ...args] = line.split(/\s+/);
    const stage = stages.at(-1);
    if (instruction === 'FROM') stages.push({ name: args[2], workdir: '/', copies: [] });
    else if (instruction === 'WORKDIR' && stage !== undefined) stage.workdir = resolve(stage.workdir, args[0] ?? '.');
    else if (instruction === 'COPY' && stage !== undefined) {
      const from = args.find((arg) => arg.startsWith('--from='))?.slice('--from='.length);
      const paths = args.filter((arg) => !arg.startsWith('--'));
      const destination = paths.pop() ?? '.';
      stage.copies.push({ from, sources: paths, destination: resolve(stage.workdir, destination) });
    }
  }
  return stages;
}

/**
 * Whether `file` (an absolute path in the stage) is in the stage: copied from the build
 * context, or from an earlier stage that has it. Build outputs (dist/, node_modules/) count
 * as present in the stage that builds them.
 */
function stageHas(stages: Stage[], stageIndex: number, file: string, builtOutputs: readonly string[]): boolean {
  const stage = stages[stageIndex];
  if (stage === undefined) return false;
  if (builtOutputs.some((output) => file.startsWith(resolve(stage.workdir, output)))) return stageIndex < stages.length - 1;
  return stage.copies.some((copy) =>
    copy.sources.some((source) => {
      const sourcePath = copy.from === undefined ? source : resolve('/', source);
      const single = copy.sources.length === 1;
      // COPY a ./b puts a (file) at ./b, or a's contents (folder) under ./b.
      const destinationFor = (rest: string): string => (rest === '' ? copy.destination : join(copy.destination, rest));
      for (const rest of candidates(file, copy.destination, single)) {
        if (copy.from === undefined) {
          const contextPath = join(repoRoot, sourcePath, rest);
          if (destinationFor(rest) === file && existsSync(contextPath) && statSync(contextPath).isFile()) return true;
        } else {
          const fromIndex = stages.findIndex((s) => s.name === copy.from);
          if (fromIndex !== -1 && destinationFor(rest) === file && stageHas(stages, fromIndex, join(sourcePath, rest), builtOutputs)) return true;
        }
      }
      return false;
    }),
  );
}

function candidates(file: string, destination: string, single: boolean): string[] {
  if (!single) return [];
  if (file === destination) return [''];
  return file.startsWith(`${destination}/`) ? [file.slice(destination.length + 1)] : [];
}

describe('the Docker image', () => {
  const stages = stagesOf(read('Dockerfile'));
  const finalStage = stages.length - 1;
  const workdir = stages[finalStage]?.workdir ?? '/';
  const inImage = (file: string): boolean => stageHas(stages, finalStage, resolve(workdir, file), ['dist', 'node_modules']);

  it('has a build stage and a runtime stage in /app', () => {
    expect(stages.map((s) => s.name)).toEqual(['build', undefined]);
    expect(workdir).toBe('/app');
  });

  it('holds the gRPC service definition where the governor looks for it', () => {
    // agent-grpc-server.ts walks up from dist/apps/governor/grpc to a folder holding proto/paybound/v1/agent.proto.
    expect(existsSync(join(repoRoot, 'proto', 'paybound', 'v1', 'agent.proto'))).toBe(true);
    expect(inImage('proto/paybound/v1/agent.proto')).toBe(true);
  });

  it('holds every migration and the built console', () => {
    const migrations = readdirSync(join(repoRoot, 'migrations')).filter((name) => name.endsWith('.sql'));
    expect(migrations.length).toBeGreaterThan(0);
    for (const migration of migrations) expect(inImage(`migrations/${migration}`), migration).toBe(true);
    // npm run build writes the console into dist/console, which the governor serves: the
    // build stage needs the console's sources, and the image takes dist/ from it.
    expect(read('package.json')).toContain('vite build --config apps/console/vite.config.ts');
    for (const file of ['apps/console/index.html', 'apps/console/vite.config.ts', 'apps/console/src/main.ts']) {
      expect(stageHas(stages, 0, resolve(stages[0]?.workdir ?? '/', file), ['dist', 'node_modules']), file).toBe(true);
    }
    expect(read('Dockerfile')).toMatch(/^COPY --from=build \/app\/dist \.\/dist$/m);
  });

  it('builds from every source folder the build compiles', () => {
    const build = JSON.parse(read('tsconfig.build.json')) as { include: string[] };
    for (const folder of build.include) {
      const someFile = readdirSync(join(repoRoot, folder), { recursive: true, withFileTypes: true }).find((entry) => entry.isFile() && entry.name.endsWith('.ts'));
      if (someFile === undefined) throw new Error(`${folder} has no TypeScript file`);
      const relative = join(someFile.parentPath, someFile.name).slice(repoRoot.length + 1);
      expect(stageHas(stages, 0, resolve('/app', relative), []), `${relative} is in the build stage`).toBe(true);
    }
  });

  it('does not claim what it lacks (the reader of this file can fail)', () => {
    expect(inImage('proto/paybound/v1/missing.proto')).toBe(false);
    expect(inImage('test/support/global-setup.ts')).toBe(false);
    expect(inImage('scripts/install-kafka.sh')).toBe(false);
  });
});

describe('the Nest project list', () => {
  it('lists every app, and only apps that exist', () => {
    const nest = JSON.parse(read('nest-cli.json')) as { projects: Record<string, { type: string; root: string }> };
    const listed = Object.values(nest.projects).filter((p) => p.type === 'application').map((p) => p.root).sort();
    const apps = readdirSync(join(repoRoot, 'apps')).filter((name) => existsSync(join(repoRoot, 'apps', name, 'main.ts'))).map((name) => `apps/${name}`).sort();
    expect(apps).toHaveLength(6);
    expect(listed).toEqual(apps);
    for (const project of Object.values(nest.projects)) expect(existsSync(join(repoRoot, project.root)), project.root).toBe(true);
  });
});

describe('docker compose', () => {
  it('creates the event topic with 12 partitions', () => {
    const compose = read('docker-compose.yml');
    const create = /entrypoint: \[(.*"--create".*)\]/.exec(compose)?.[1];
    if (create === undefined) throw new Error('no topic creation in docker-compose.yml');
    const args = create.split(',').map((arg) => arg.trim().replace(/^"|"$/g, ''));
    expect(args[args.indexOf('--topic') + 1]).toBe('paybound.events.v1');
    expect(args[args.indexOf('--partitions') + 1]).toBe('12');
  });
});
