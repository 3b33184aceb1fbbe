// Who may use a real card: the nodes belong to the audio group (GID 29 in
// the guest's /etc/group, as Debian's udev rules set them), and speakerd runs
// as the container's uid 10001, without capabilities.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { doctorJson } from '../../diagnostics/fixtures/doctor-process';
import { projectRoot } from '../../../src/project-root';
import { AUDIO_GID, giveNodesToAudioGroup } from '../lib/sound-card';

/** setpriv arguments that run a command as the container's user, with these supplementary groups and no capabilities. */
function asContainerUser(groups: number[]): string[] {
  return ['setpriv', '--reuid', '10001', '--regid', '10001', ...(groups.length > 0 ? ['--groups', groups.join(',')] : ['--clear-groups']), '--inh-caps=-all', '--no-new-privs'];
}

t.test('permissions on a real card', { timeout: 240_000 }, async (t) => {
  giveNodesToAudioGroup();
  t.equal(/^audio:x:(\d+):/m.exec(readFileSync('/etc/group', 'utf8'))?.[1], String(AUDIO_GID), "the guest's audio group is GID 29");

  await t.test('as uid 10001 without the audio group: doctor says E_SND_EACCES with the GID to add', async (t) => {
    const { status, report } = doctorJson({ AUDIO_DEVICE: 'hw:Loopback,0,0' }, asContainerUser([]));
    t.equal(status, 1);
    t.equal(report.verdict.code, 'E_SND_EACCES');
    t.match(report.verdict.message, /^the PCM cannot be opened: .*pcmC0D0p \(crw-rw----, gid 29 audio\).* not readable and writable by this process$/);
    t.equal(report.verdict.hint, "add GID 29 to the pod's securityContext.supplementalGroups (supplementalGroups: [29])");
  });

  await t.test('as uid 10001 in the audio group: doctor finds the card playable, and a tone plays on it', async (t) => {
    const { status, report } = doctorJson({ AUDIO_DEVICE: 'hw:Loopback,0,0' }, asContainerUser([AUDIO_GID]));
    t.equal(status, 0, `doctor: ${report.verdict.code}: ${report.verdict.message}`);
    t.equal(report.ok, true);
    t.equal(report.pcm.opened, true);
    const tone = spawnSync(asContainerUser([AUDIO_GID])[0]!, [...asContainerUser([AUDIO_GID]).slice(1), process.execPath, `${projectRoot}/dist/cli.js`, 'tone', '--pcm', 'hw:Loopback,0,0', '--seconds', '0.5'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '', HOME: '/tmp' },
    });
    t.equal(tone.status, 0, tone.stderr);
    t.match(tone.stdout, /speakerd: played 24000 frames \(0\.500 s of audio\) in [\d.]+ s; outcome played, underruns 0/);
  });
});
