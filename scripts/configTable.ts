/** Prints the configuration table for the README from the one settings table in src/config.ts. */
import { isSecretSetting, SETTINGS } from '../src/config.ts';

const REQUIRED = new Set<string>([SETTINGS.databaseUrl.env, SETTINGS.mongoUrl.env]);

console.log('| variable | flag | default | meaning |');
console.log('| --- | --- | --- | --- |');
for (const s of Object.values(SETTINGS)) {
  const def = 'default' in s ? `\`${String(s.default)}\`` : REQUIRED.has(s.env) ? 'required' : '—';
  const secret = isSecretSetting(s) ? ' **Secret**: never printed.' : '';
  console.log(`| \`${s.env}\` | \`${s.flag}\` | ${def} | ${s.description}${secret} |`);
}
