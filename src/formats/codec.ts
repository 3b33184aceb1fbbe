// The compressed formats speakerd decodes natively (native/src/audio_decoder.h),
// by the names the addon takes, and what each is called to a client.
export const CODECS = ['flac', 'opus', 'vorbis', 'mp3', 'webm'] as const;
export type Codec = (typeof CODECS)[number];
