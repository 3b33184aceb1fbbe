// WebM (Matroska) with Opus, what browsers' MediaRecorder uploads: libwebm's
// streaming parser (webm_parser) walks the elements as the body's bytes
// arrive and hands over each frame of the first Opus track, which libopus
// decodes. Gapless as in Ogg: the OpusHead's pre-skip is dropped from the
// start, and a block's DiscardPadding from the end. Audio comes out as
// 48 kHz float in WAV channel order.
#include <webm/callback.h>
#include <webm/reader.h>
#include <webm/status.h>
#include <webm/webm_parser.h>

#include <algorithm>
#include <vector>

#include "audio_decoder.h"
#include "opus_packet_decoder.h"

namespace speakerd {
namespace {

constexpr unsigned kOpusRate = 48000;
constexpr int kMaxErrorsInARow = 64;
constexpr uint64_t kMaxFrameBytes = 1 << 20;  // far beyond any Opus packet (1275 bytes per stream)
// Ends Feed() when the sink refuses more; Run() knows why, and nothing resumes.
const webm::Status kStop(webm::Status::kWouldBlock);

// The body as webm_parser reads it: blocking reads of the byte source.
class SourceReader final : public webm::Reader {
 public:
  explicit SourceReader(ByteSource* source) : source_(source) {}

  webm::Status Read(std::size_t count, std::uint8_t* buffer, std::uint64_t* done) override {
    const size_t got = source_->Read(buffer, count);
    *done = got;
    position_ += got;
    if (got == 0) {
      ended_ = true;
      return webm::Status(webm::Status::kEndOfFile);
    }
    return webm::Status(got == count ? webm::Status::kOkCompleted : webm::Status::kOkPartial);
  }

  webm::Status Skip(std::uint64_t count, std::uint64_t* done) override {
    uint8_t scratch[4096];
    *done = 0;
    while (*done < count) {
      const size_t got = source_->Read(scratch, static_cast<size_t>(std::min<uint64_t>(sizeof scratch, count - *done)));
      if (got == 0) {
        ended_ = true;
        break;
      }
      *done += got;
      position_ += got;
    }
    if (*done == count) return webm::Status(webm::Status::kOkCompleted);
    return webm::Status(*done > 0 ? webm::Status::kOkPartial : webm::Status::kEndOfFile);
  }

  std::uint64_t Position() const override { return position_; }
  bool ended() const { return ended_; }

 private:
  ByteSource* source_;
  uint64_t position_ = 0;
  bool ended_ = false;
};

class WebmOpusDecoder final : public AudioDecoder, private webm::Callback {
 public:
  DecodeReport Run(ByteSource* source, PcmSink* sink) override {
    sink_ = sink;
    SourceReader reader(source);
    webm::WebmParser parser;
    const webm::Status status = parser.Feed(this, &reader);
    if (!refused_ && opus_.is_open()) refused_ = !opus_.Flush(sink_);
    if (refused_) return report_;
    if (!report_.error.ok()) return report_;
    if (track_ == 0) {
      FailDecode(&report_, Codec::kWebmOpus,
                 reader.ended() && reader.Position() == 0 ? "the body is empty" : "no Opus track before the first cluster");
      return report_;
    }
    // The parser stops at the first broken element; what follows cannot be
    // found again in a stream without an index, so it is not played.
    if (status.is_parsing_error()) report_.decode_errors++;
    if (!status.completed_ok() && !status.is_parsing_error()) {
      // The body ended first. A segment of known size says where it should
      // have; one of unknown size (MediaRecorder's, written live) ends
      // wherever the recording stopped, and only a block cut in two is a cut.
      report_.truncated = segment_end_ != 0 ? reader.Position() < segment_end_ : in_block_;
    }
    return report_;
  }

 private:
  webm::Status OnSegmentBegin(const webm::ElementMetadata& metadata, webm::Action* action) override {
    if (metadata.size != webm::kUnknownElementSize && metadata.header_size != webm::kUnknownHeaderSize) {
      segment_end_ = metadata.position + metadata.header_size + metadata.size;
    }
    *action = webm::Action::kRead;
    return Ok();
  }

  webm::Status OnBlockGroupBegin(const webm::ElementMetadata&, webm::Action* action) override {
    in_block_ = true;
    *action = webm::Action::kRead;
    return Ok();
  }

  webm::Status OnSimpleBlockEnd(const webm::ElementMetadata&, const webm::SimpleBlock&) override {
    in_block_ = false;
    return Ok();
  }

  webm::Status OnTrackEntry(const webm::ElementMetadata&, const webm::TrackEntry& entry) override {
    if (track_ != 0 || entry.codec_id.value() != "A_OPUS") return Ok();
    const std::vector<uint8_t>& codec_private = entry.codec_private.value();
    std::string error;
    if (!opus_.Open(codec_private.data(), codec_private.size(), &error)) {
      FailDecode(&report_, Codec::kWebmOpus, "the Opus track's CodecPrivate is " + error);
      return webm::Status(webm::Status::kInvalidElementValue);
    }
    track_ = entry.track_number.value();
    return Ok();
  }

  webm::Status OnSimpleBlockBegin(const webm::ElementMetadata&, const webm::SimpleBlock& block,
                                  webm::Action* action) override {
    return BlockBegins(block.track_number, action);
  }

  webm::Status OnBlockBegin(const webm::ElementMetadata&, const webm::Block& block, webm::Action* action) override {
    return BlockBegins(block.track_number, action);
  }

  webm::Status BlockBegins(uint64_t track, webm::Action* action) {
    in_block_ = true;
    in_our_block_ = track_ != 0 && track == track_;
    *action = in_our_block_ ? webm::Action::kRead : webm::Action::kSkip;
    return Ok();
  }

  // The padding of a block's last packet: dropped from what is held.
  webm::Status OnBlockGroupEnd(const webm::ElementMetadata&, const webm::BlockGroup& group) override {
    in_block_ = false;
    if (in_our_block_ && group.discard_padding.is_present() && group.discard_padding.value() > 0) {
      // Nanoseconds to frames, rounded: a muxer's ns are rounded from frames.
      opus_.TrimHeld((static_cast<uint64_t>(group.discard_padding.value()) * kOpusRate + 500000000u) / 1000000000u);
    }
    return Ok();
  }

  webm::Status OnFrame(const webm::FrameMetadata&, webm::Reader* reader, std::uint64_t* bytes_remaining) override {
    if (!in_our_block_ || *bytes_remaining > kMaxFrameBytes) return SkipFrame(reader, bytes_remaining);
    packet_.resize(static_cast<size_t>(*bytes_remaining));
    size_t have = 0;
    while (*bytes_remaining > 0) {
      std::uint64_t got = 0;
      const webm::Status status = reader->Read(static_cast<size_t>(*bytes_remaining), packet_.data() + have, &got);
      have += static_cast<size_t>(got);
      *bytes_remaining -= got;
      if (!status.completed_ok() && status.code != webm::Status::kOkPartial) return status;
    }
    switch (opus_.Decode(packet_.data(), packet_.size(), sink_)) {
      case OpusPacketDecoder::Result::kDecoded:
        errors_in_a_row_ = 0;
        return Ok();
      case OpusPacketDecoder::Result::kCorrupt:
        report_.decode_errors++;
        if (++errors_in_a_row_ >= kMaxErrorsInARow) return webm::Status(webm::Status::kInvalidElementValue);
        return Ok();
      case OpusPacketDecoder::Result::kRefused:
        refused_ = true;
        return kStop;
    }
    return Ok();
  }

  webm::Status SkipFrame(webm::Reader* reader, std::uint64_t* bytes_remaining) {
    while (*bytes_remaining > 0) {
      std::uint64_t skipped = 0;
      const webm::Status status = reader->Skip(*bytes_remaining, &skipped);
      *bytes_remaining -= skipped;
      if (!status.completed_ok() && status.code != webm::Status::kOkPartial) return status;
    }
    return Ok();
  }

  static webm::Status Ok() { return webm::Status(webm::Status::kOkCompleted); }

  PcmSink* sink_ = nullptr;
  DecodeReport report_;
  OpusPacketDecoder opus_;
  uint64_t track_ = 0;  // the Opus track's number; 0 until its TrackEntry
  bool in_our_block_ = false;
  bool in_block_ = false;     // inside a block of any track: a body that ends here was cut
  uint64_t segment_end_ = 0;  // where a segment of known size ends; 0: unknown
  int errors_in_a_row_ = 0;
  bool refused_ = false;
  std::vector<uint8_t> packet_;
};

}  // namespace

std::unique_ptr<AudioDecoder> CreateWebmOpusDecoder() { return std::make_unique<WebmOpusDecoder>(); }

}  // namespace speakerd
