// Makes sure the system programs the tests use are present: redis-server (bus tests start their
// own), Debian's chromium (Playwright) and nginx (the load-balancer e2e). Installs the missing
// ones with apt-get when running as root (or with passwordless sudo); otherwise says what to run.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const needs = [
  { what: 'redis-server', package: 'redis-server', present: () => has('redis-server') },
  { what: 'chromium', package: 'chromium', present: () => existsSync('/usr/bin/chromium') },
  { what: 'nginx', package: 'nginx-light', present: () => has('nginx') || existsSync('/usr/sbin/nginx') },
];

function has(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

const missing = needs.filter((need) => !need.present());
if (missing.length === 0) process.exit(0);

const packages = missing.map((need) => need.package);
const isRoot = process.getuid?.() === 0;
const sudo = !isRoot && has('sudo') && spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0;
if (!isRoot && !sudo) {
  console.error(`missing: ${missing.map((n) => n.what).join(', ')}`);
  console.error(`install them with: sudo apt-get install -y --no-install-recommends ${packages.join(' ')}`);
  process.exit(1);
}
const prefix = isRoot ? [] : ['sudo', '-n'];
const run = (args) => {
  const [command, ...rest] = [...prefix, ...args];
  execFileSync(command, rest, {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
};
console.log(`installing ${packages.join(', ')} with apt-get`);
run(['apt-get', 'update']);
run(['apt-get', 'install', '-y', '--no-install-recommends', ...packages]);
