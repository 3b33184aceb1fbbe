{
  # alsa-lib and speexdsp are built as static libraries by
  # scripts/build-static-deps.sh (run by `npm install` before this file is
  # used) into deps/alsa-lib and deps/speexdsp.
  "targets": [
    {
      "target_name": "speakerd",
      "sources": [
        "native/src/addon.cc",
        "native/src/alsa_config_text.cc",
        "native/src/alsa_config_wrap.cc",
        "native/src/alsa_log.cc",
        "native/src/clock_sink.cc",
        "native/src/converter.cc",
        "native/src/converter_wrap.cc",
        "native/src/device_wrap.cc",
        "native/src/fault_pcm.cc",
        "native/src/free_buffer.cc",
        "native/src/js_audio_format.cc",
        "native/src/ioplug_params.cc",
        "native/src/mixer.cc",
        "native/src/pcm_device.cc",
        "native/src/playback_thread.cc",
        "native/src/realtime.cc",
        "native/src/stream_input.cc",
        "native/src/turn_end_wakes.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "deps/alsa-lib/include",
        "deps/speexdsp/include"
      ],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-fvisibility=hidden", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags": ["-fvisibility=hidden"],
      "libraries": [
        "<(module_root_dir)/deps/alsa-lib/lib/libasound.a",
        "<(module_root_dir)/deps/speexdsp/lib/libspeexdsp.a",
        "-lm", "-ldl", "-lpthread", "-lrt"
      ],
      # Keep alsa-lib's and speexdsp's symbols out of the .node's dynamic
      # symbol table, so that they never clash with a libasound or libspeexdsp
      # loaded by anything else.
      "ldflags": ["-Wl,--exclude-libs,ALL", "-Wl,-Bsymbolic"],
      "conditions": [
        ["OS!='linux'", { "type": "none" }]
      ]
    }
  ]
}
