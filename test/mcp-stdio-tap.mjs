// A transparent stdio tap for the MCP proxy tests: runs `<command> [args…]`, passes both directions through
// unchanged and appends every byte to `<log>.to-server` / `<log>.from-server`, so a test can compare what
// the MCP server really received and sent with what the client sent and received through the proxy.
import { spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';

const [log, command, ...args] = process.argv.slice(2);
const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'] });
process.stdin.on('data', (chunk) => {
  appendFileSync(`${log}.to-server`, chunk);
  child.stdin.write(chunk);
});
process.stdin.on('end', () => child.stdin.end());
child.stdout.on('data', (chunk) => {
  appendFileSync(`${log}.from-server`, chunk);
  process.stdout.write(chunk);
});
child.on('exit', (code) => process.exit(code ?? 1));
