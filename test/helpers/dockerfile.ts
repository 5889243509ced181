/**
 * Just enough of a Dockerfile reader for the image checks (no Docker engine
 * here to build it): the COPY instructions with the stage they copy from,
 * each stage's WORKDIR, and the final stage's exec-form ENTRYPOINT.
 */
export interface DockerCopy {
  /** `--from=` stage name, or undefined for the build context. */
  from: string | undefined;
  sources: string[];
  /** Line number in the Dockerfile, for messages. */
  line: number;
}

export interface Dockerfile {
  copies: DockerCopy[];
  /** WORKDIR of each named stage (the last one wins). */
  workdirs: Map<string, string>;
  /** The last stage's ENTRYPOINT, exec form. */
  entrypoint: string[];
  runs: string[];
}

export function readDockerfile(text: string): Dockerfile {
  const copies: DockerCopy[] = [];
  const workdirs = new Map<string, string>();
  const runs: string[] = [];
  let stage = '';
  let entrypoint: string[] = [];
  // Continuation lines join the instruction they continue.
  const lines = text.replace(/\\\n/g, ' ').split('\n');
  lines.forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const [instruction = '', ...rest] = line.split(/\s+/);
    switch (instruction.toUpperCase()) {
      case 'FROM':
        stage = rest[2] ?? rest[0] ?? '';
        entrypoint = [];
        break;
      case 'WORKDIR':
        workdirs.set(stage, rest[0] ?? '/');
        break;
      case 'COPY': {
        const flags = rest.filter((w) => w.startsWith('--'));
        const paths = rest.filter((w) => !w.startsWith('--'));
        const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
        copies.push({ from, sources: paths.slice(0, -1), line: index + 1 });
        break;
      }
      case 'RUN':
        runs.push(rest.join(' '));
        break;
      case 'ENTRYPOINT':
        entrypoint = JSON.parse(rest.join(' ')) as string[];
        break;
    }
  });
  return { copies, workdirs, entrypoint, runs };
}
