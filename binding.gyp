{
  # alsa-lib, speexdsp and the codec libraries (libFLAC, libogg, libopus,
  # opusfile, libvorbis, libmpg123, libwebm) are built as static libraries by
  # scripts/build-static-deps.sh (run by `npm install` before this file is
  # used) into deps/<name>.
  "targets": [
    {
      "target_name": "speakerd",
      "sources": [
        "native/src/addon.cc",
        "native/src/alsa_config_text.cc",
        "native/src/alsa_config_wrap.cc",
        "native/src/alsa_log.cc",
        "native/src/audio_decoder.cc",
        "native/src/c_heap.cc",
        "native/src/clock_lock.cc",
        "native/src/clock_sink.cc",
        "native/src/device_clock.cc",
        "native/src/system_clocks.cc",
        "native/src/converter.cc",
        "native/src/drift_interpolator.cc",
        "native/src/converter_wrap.cc",
        "native/src/decode_slots.cc",
        "native/src/decode_thread.cc",
        "native/src/device_wrap.cc",
        "native/src/fault_pcm.cc",
        "native/src/flac_decoder.cc",
        "native/src/free_buffer.cc",
        "native/src/hardware_volume.cc",
        "native/src/hardware_volume_wrap.cc",
        "native/src/js_audio_format.cc",
        "native/src/loop_wake.cc",
        "native/src/ioplug_params.cc",
        "native/src/mixer.cc",
        "native/src/mp3_decoder.cc",
        "native/src/ogg_opus_decoder.cc",
        "native/src/ogg_vorbis_decoder.cc",
        "native/src/opus_packet_decoder.cc",
        "native/src/pcm_device.cc",
        "native/src/playback_thread.cc",
        "native/src/realtime.cc",
        "native/src/stream_input.cc",
        "native/src/stream_level.cc",
        "native/src/turn_end_wakes.cc",
        "native/src/webm_opus_decoder.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "deps/alsa-lib/include",
        "deps/speexdsp/include",
        "deps/flac/include",
        "deps/libogg/include",
        "deps/opus/include/opus",
        "deps/opusfile/include/opus",
        "deps/libvorbis/include",
        "deps/mpg123/include",
        "deps/libwebm/include"
      ],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      # -fno-math-errno: lrintf (every float sample's rounding) inlines to
      # one instruction instead of a libm call per sample; nothing here
      # reads errno after maths.
      "cflags_cc": ["-std=c++17", "-fvisibility=hidden", "-fno-math-errno", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags": ["-fvisibility=hidden"],
      "libraries": [
        "<(module_root_dir)/deps/alsa-lib/lib/libasound.a",
        "<(module_root_dir)/deps/speexdsp/lib/libspeexdsp.a",
        "<(module_root_dir)/deps/flac/lib/libFLAC.a",
        "<(module_root_dir)/deps/opusfile/lib/libopusfile.a",
        "<(module_root_dir)/deps/opus/lib/libopus.a",
        "<(module_root_dir)/deps/libvorbis/lib/libvorbisfile.a",
        "<(module_root_dir)/deps/libvorbis/lib/libvorbis.a",
        "<(module_root_dir)/deps/libogg/lib/libogg.a",
        "<(module_root_dir)/deps/mpg123/lib/libmpg123.a",
        "<(module_root_dir)/deps/libwebm/lib/libwebm.a",
        "-lm", "-ldl", "-lpthread", "-lrt"
      ],
      # Keep the static libraries' symbols out of the .node's dynamic symbol
      # table, so that they never clash with a libasound, libFLAC, libopus ...
      # loaded by anything else.
      "ldflags": ["-Wl,--exclude-libs,ALL", "-Wl,-Bsymbolic"],
      "conditions": [
        ["OS!='linux'", { "type": "none" }]
      ]
    }
  ]
}
