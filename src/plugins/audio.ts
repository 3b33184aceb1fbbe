// The audio engine as a named, typed Fastify decorator. The app closes it
// (and so the device) when it closes.
import fp from 'fastify-plugin';
import type { AudioEngine } from '../engine/engine';

declare module 'fastify' {
  interface FastifyInstance {
    audio: AudioEngine;
  }
}

export default fp<{ engine: AudioEngine }>(
  async (app, { engine }) => {
    app.decorate('audio', engine);
    app.addHook('onClose', async () => {
      await engine.close();
    });
  },
  { name: 'speakerd-audio' },
);
