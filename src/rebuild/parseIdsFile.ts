import { AGGREGATE_TYPE_PATTERN } from '../outbox/aggregateType.ts';
import { ValidationError } from '../errors.ts';

/**
 * `rebuild --ids-from <file>`: one entity per line, `<type>/<id>` or a bare id
 * (then it names that id in each of `bareTypes`). Blank lines and lines
 * starting with `#` are skipped. A line that is neither throws
 * ValidationError('INVALID_REBUILD') naming its line number.
 */
export function parseIdsFile(text: string, bareTypes: readonly string[]): { aggregateType: string; aggregateId: string }[] {
  const refs: { aggregateType: string; aggregateId: string }[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const slash = line.indexOf('/');
    const type = slash > 0 ? line.slice(0, slash) : undefined;
    if (type !== undefined && AGGREGATE_TYPE_PATTERN.test(type)) {
      const id = line.slice(slash + 1);
      if (id.length === 0 || id.length > 512) throw bad(index, 'no id after the type');
      refs.push({ aggregateType: type, aggregateId: id });
      return;
    }
    if (line.length > 512 || /\s/.test(line)) throw bad(index, 'expected <type>/<id> or an id');
    for (const aggregateType of bareTypes) refs.push({ aggregateType, aggregateId: line });
  });
  return refs;
}

function bad(index: number, why: string): ValidationError {
  return new ValidationError('INVALID_REBUILD', `--ids-from line ${index + 1}: ${why}`, { details: { line: index + 1 } });
}
