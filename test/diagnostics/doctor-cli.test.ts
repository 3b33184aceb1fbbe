import t from 'tap';
import { spawnSync } from 'node:child_process';
import { cli, doctorJson, runDoctorCli } from './fixtures/doctor-process';
import { nodeAsShipped } from '../node-as-shipped';

t.test('speakerd doctor on this machine (no /dev/snd): exit 1 and a report that says why first', async (t) => {
  const run = runDoctorCli({});
  t.equal(run.status, 1);
  t.equal(run.stderr, '');
  const lines = run.stdout.split('\n');
  t.equal(
    lines[0],
    'speakerd doctor: no playable device (E_SND_ABSENT): no playback device: /dev/snd does not exist (ENOENT); opening plughw:0,0 failed: cannot open PCM "plughw:0,0": No such file or directory',
  );
  t.match(lines[1], /^ {2}fix: \/dev\/snd is not mounted into the container: deploy with k8s\/overlays\/device-plugin/);
  for (const line of [
    'Configured PCM (AUDIO_MODE=auto, AUDIO_DEVICE=plughw:0,0)',
    '  open failed: cannot open PCM "plughw:0,0": No such file or directory (E_ALSA_OPEN, errno 2)',
    '    alsa-lib: snd_config_get_card: Cannot get card index for 0',
    'Sound device nodes (/dev/snd)',
    '  not present (ENOENT)',
    'Cards (/proc/asound/cards)',
    '  not present: the kernel has no sound support, or /proc/asound is hidden from the container',
    'Process',
    '  seccomp disabled (0), NoNewPrivs no',
    'Memory',
  ]) {
    t.ok(lines.includes(line), `has the line ${JSON.stringify(line)}`);
  }
  t.match(run.stdout, /\n {2}uid 0\/0\/0\/0, gid 0\/0\/0\/0 \(real\/effective\/saved\/fs\), groups \[\]\n/);
  t.match(run.stdout, /\n {2}cgroup v1 limit unlimited \(\/sys\/fs\/cgroup\/memory\/.*memory\.limit_in_bytes\)\n/);
});

t.test('an AUDIO_SND_DIR that does not exist is E_SND_ABSENT in JSON too', async (t) => {
  const { status, report } = doctorJson({ AUDIO_SND_DIR: '/nonexistent/snd' });
  t.equal(status, 1);
  t.equal(report.ok, false);
  t.same(report.snd, { dir: '/nonexistent/snd', present: false, error: 'ENOENT', nodes: [] });
  t.equal(report.verdict.code, 'E_SND_ABSENT');
  t.same(report.findings[0], report.verdict);
  t.same(report.pcm, {
    pcm: 'plughw:0,0',
    attempted: true,
    opened: false,
    error: { code: 'E_ALSA_OPEN', errno: 2, message: 'cannot open PCM "plughw:0,0": No such file or directory', alsaMessages: ['snd_config_get_card: Cannot get card index for 0'] },
    info: null,
  });
});

t.test('headless mode is not a playable device: exit 1, the PCM is not opened, and the report says so', async (t) => {
  const run = runDoctorCli({ AUDIO_MODE: 'headless' });
  t.equal(run.status, 1);
  t.equal(
    run.stdout.split('\n')[0],
    'speakerd doctor: no playable device (E_SND_HEADLESS): AUDIO_MODE=headless: the PCM is not opened and audio plays into the clock sink, so no playable device is in use',
  );
  t.match(run.stdout, /\n {2}not opened: headless mode plays into the clock sink\n/);
});

t.test('a PCM that opens is a playable device: exit 0', async (t) => {
  const { status, report } = doctorJson({ AUDIO_MODE: 'device', AUDIO_DEVICE: 'null' });
  t.equal(status, 0);
  t.equal(report.ok, true);
  t.same(report.verdict, { code: 'OK', severity: 'ok', message: 'null opens for playback', hint: 'nothing to do' });
  t.equal(report.pcm.info?.pcm, 'null');
  const text = runDoctorCli({ AUDIO_MODE: 'device', AUDIO_DEVICE: 'null' });
  t.equal(text.stdout.split('\n')[0], 'speakerd doctor: a playable device was found: null opens for playback');
});

t.test('an invalid configuration exits 2 and names the variable, as serve does', async (t) => {
  const run = runDoctorCli({ MAX_STREAMS: '0' });
  t.equal(run.status, 2);
  t.equal(run.stdout, '');
  t.equal(run.stderr, 'speakerd: invalid configuration: MAX_STREAMS="0": must be a whole number from 1 to 64\n');
});

t.test('--help lists the doctor command and --json', async (t) => {
  const [command, ...args] = nodeAsShipped([cli, '--help']);
  const result = spawnSync(command, args, { encoding: 'utf8' });
  t.equal(result.status, 0);
  t.match(result.stdout, /^Usage: speakerd \[serve\|tone\] \[options\]\n {7}speakerd doctor \[--json\]\n/);
  t.match(result.stdout, /\n {2}doctor {3}Check why the configured device plays or not/);
  t.match(result.stdout, /\n {2}--json {15}print the whole report as JSON instead of text\n/);
});

t.test('an open stuck in the driver: the doctor reports E_SND_OPEN_TIMEOUT after AUDIO_OPEN_TIMEOUT_MS and exits, without waiting for the driver', async (t) => {
  // The driver answers after 10 minutes: far past runDoctorCli's 20 s hang
  // guard, which would kill the doctor (no status, no JSON). A report and
  // exit 1 mean the doctor gave up on the open before the driver returned.
  const { status, report } = doctorJson({
    AUDIO_MODE: 'device',
    AUDIO_DEVICE: 'stuck',
    AUDIO_OPEN_TIMEOUT_MS: '300',
    AUDIO_ALSA_CONFIG: 'pcm.stuck { type speakerd_fault slave.pcm "null" open_delay_ms 600000 }',
  });
  t.equal(status, 1);
  t.equal(report.verdict.code, 'E_SND_OPEN_TIMEOUT');
  t.equal(report.pcm.error?.code, 'E_ALSA_OPEN_TIMEOUT');
  t.equal(report.pcm.error?.errno, 110);
  t.equal(report.pcm.error?.message, 'cannot open PCM "stuck": no answer within AUDIO_OPEN_TIMEOUT_MS=300 ms; the driver is stuck in open()');
});

t.test('a PCM whose open answers EBUSY (the fault PCM, as a held card does) is E_SND_EBUSY with the fix', async (t) => {
  const { status, report } = doctorJson({
    AUDIO_MODE: 'device',
    AUDIO_DEVICE: 'held',
    AUDIO_ALSA_CONFIG: 'pcm.held { type speakerd_fault slave.pcm "null" refuse_opens 1 refuse_errno EBUSY }',
  });
  t.equal(status, 1);
  t.same(report.pcm.error, { code: 'E_ALSA_OPEN', errno: 16, message: 'cannot open PCM "held": Device or resource busy', alsaMessages: [] });
  t.equal(report.verdict.code, 'E_SND_EBUSY');
  t.equal(report.verdict.message, 'opening held failed with EBUSY: another process holds the device');
  t.match(report.verdict.hint, /^a hw device takes one client at a time: stop the host's PulseAudio or PipeWire/);
});
