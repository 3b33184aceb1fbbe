// POSTs a generated WAV to speakerd with curl reading it from a pipe, the
// HTTP counterpart of `source | aplay`.
import { commandLine, runPipeline } from './pipeline.mjs';

/**
 * `-T -` streams stdin as it comes (chunked); `--data-binary @-` would first
 * read the whole body into memory. `-X POST` turns -T's PUT into a POST.
 */
export function curlCommandLine({ source, url }) {
  return `${commandLine(source)} | ${commandLine(['curl', '-sS', '--fail-with-body', '-T', '-', '-X', 'POST', '-H', 'content-type: audio/wav', `${url}/v1/streams`])}`;
}

/** Resolves with the wall and CPU seconds of generator + curl, and speakerd's answer. */
export async function postThroughCurl(job) {
  const { seconds, cpuSeconds, stdout } = await runPipeline(curlCommandLine(job));
  return { seconds, cpuSeconds, answer: JSON.parse(stdout) };
}
