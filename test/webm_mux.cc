// Test fixture tool: remuxes an Ogg Opus file (opusenc's) into WebM with
// libwebm's muxer, packet for packet, so that what speakerd makes of the
// WebM can be compared with what opusdec makes of the Ogg file. The
// OpusHead becomes CodecPrivate, its pre-skip CodecDelay, and the last
// page's end trim the last block's DiscardPadding.
//
// Usage: webm_mux in.opus out.webm [live]
//   live: unknown-size segment and clusters, no cues, as a browser's
//   MediaRecorder writes while it records.
#include <mkvmuxer/mkvmuxer.h>
#include <mkvmuxer/mkvwriter.h>
#include <ogg/ogg.h>
#include <opus.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct Packet {
  std::vector<uint8_t> data;
  int64_t granule;  // the page's granule position on its last packet, else -1
};

bool ReadOggPackets(const char* path, std::vector<Packet>* packets) {
  FILE* file = std::fopen(path, "rb");
  if (file == nullptr) return false;
  ogg_sync_state sync;
  ogg_stream_state stream;
  ogg_sync_init(&sync);
  bool stream_ready = false;
  for (;;) {
    char* buffer = ogg_sync_buffer(&sync, 65536);
    const size_t got = std::fread(buffer, 1, 65536, file);
    ogg_sync_wrote(&sync, static_cast<long>(got));
    ogg_page page;
    while (ogg_sync_pageout(&sync, &page) == 1) {
      if (!stream_ready) {
        ogg_stream_init(&stream, ogg_page_serialno(&page));
        stream_ready = true;
      }
      ogg_stream_pagein(&stream, &page);
      ogg_packet packet;
      while (ogg_stream_packetout(&stream, &packet) == 1) {
        packets->push_back({std::vector<uint8_t>(packet.packet, packet.packet + packet.bytes), packet.granulepos});
      }
    }
    if (got == 0) break;
  }
  std::fclose(file);
  if (stream_ready) ogg_stream_clear(&stream);
  ogg_sync_clear(&sync);
  return packets->size() > 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: webm_mux in.opus out.webm [live]\n");
    return 2;
  }
  const bool live = argc > 3 && std::string(argv[3]) == "live";
  std::vector<Packet> packets;
  if (!ReadOggPackets(argv[1], &packets) || std::memcmp(packets[0].data.data(), "OpusHead", 8) != 0) {
    std::fprintf(stderr, "webm_mux: %s is not Ogg Opus\n", argv[1]);
    return 1;
  }
  const std::vector<uint8_t>& head = packets[0].data;
  const int channels = head[9];
  const uint16_t pre_skip = static_cast<uint16_t>(head[10] | (head[11] << 8));

  mkvmuxer::MkvWriter writer;
  if (!writer.Open(argv[2])) return 1;
  mkvmuxer::Segment segment;
  if (!segment.Init(&writer)) return 1;
  segment.set_mode(live ? mkvmuxer::Segment::kLive : mkvmuxer::Segment::kFile);
  segment.OutputCues(!live);
  const uint64_t track_number = segment.AddAudioTrack(48000, channels, 0);
  auto* track = static_cast<mkvmuxer::AudioTrack*>(segment.GetTrackByNumber(track_number));
  track->set_codec_id(mkvmuxer::Tracks::kOpusCodecId);
  track->SetCodecPrivate(head.data(), head.size());
  track->set_codec_delay(static_cast<uint64_t>(pre_skip) * 1000000000ull / 48000);
  track->set_seek_pre_roll(80000000);

  // The audio packets start after OpusHead and OpusTags. The last page's
  // granule position says how many of the decoded samples are real.
  int64_t samples = 0;
  int64_t final_granule = -1;
  for (size_t i = 2; i < packets.size(); i++) {
    if (packets[i].granule >= 0) final_granule = packets[i].granule;
  }
  for (size_t i = 2; i < packets.size(); i++) {
    const Packet& packet = packets[i];
    const int count = opus_packet_get_nb_samples(packet.data.data(), static_cast<opus_int32>(packet.data.size()), 48000);
    mkvmuxer::Frame frame;
    frame.Init(packet.data.data(), packet.data.size());
    frame.set_track_number(track_number);
    frame.set_timestamp(static_cast<uint64_t>(samples) * 1000000000ull / 48000);
    frame.set_is_key(true);
    samples += count;
    if (i + 1 == packets.size() && final_granule >= 0 && samples > final_granule) {
      frame.set_discard_padding((samples - final_granule) * 1000000000ll / 48000);
    }
    if (!segment.AddGenericFrame(&frame)) return 1;
  }
  if (!segment.Finalize()) return 1;
  writer.Close();
  return 0;
}
