/** Prints the configuration table for the README from the one settings table in src/config.ts. */
import { SETTINGS } from '../src/config.ts';

console.log('| variable | flag | default | meaning |');
console.log('| --- | --- | --- | --- |');
for (const s of Object.values(SETTINGS)) {
  const def = 'default' in s ? `\`${String(s.default)}\`` : s.env.endsWith('URL') && s.env !== 'OUTBOX_RELAY_LISTEN_DATABASE_URL' ? 'required' : '—';
  console.log(`| \`${s.env}\` | \`${s.flag}\` | ${def} | ${s.description} |`);
}
