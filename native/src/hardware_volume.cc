#include "hardware_volume.h"

#include <alsa/asoundlib.h>

#include <algorithm>
#include <cerrno>
#include <cmath>

namespace speakerd {
namespace {

// A control element's name has room for 43 bytes (SNDRV_CTL_ELEM_ID_NAME_MAXLEN
// less the NUL); alsa-lib cuts a longer one short, which could then name
// another element.
constexpr size_t kMaxElementName = 43;

void SetError(DeviceError* error, const char* code, const std::string& message) {
  error->code = code;
  error->errnum = 0;
  error->message = message;
}

// A card that went away answers ENODEV on a handle opened before (the
// kernel's disconnected file operations), and ENOENT or ENXIO to a new open
// (its nodes are gone, or no driver stands behind them).
bool CardGone(int err) { return err == -ENODEV || err == -ENOENT || err == -ENXIO; }

// One open of a card's mixer, with its simple elements loaded.
class CardMixer {
 public:
  explicit CardMixer(int card) : card_(card), device_("hw:" + std::to_string(card)) {}
  ~CardMixer() {
    if (mixer_ != nullptr) snd_mixer_close(mixer_);
  }
  CardMixer(const CardMixer&) = delete;
  CardMixer& operator=(const CardMixer&) = delete;

  // Opens the control device, loads the elements and reads the card's id.
  // Returns 0 or alsa-lib's error, with *what naming the step that failed.
  int Open(std::string* what) {
    *what = "cannot open the mixer of card " + std::to_string(card_);
    int err = snd_mixer_open(&mixer_, 0);
    if (err < 0) {
      mixer_ = nullptr;
      return err;
    }
    if ((err = snd_mixer_attach(mixer_, device_.c_str())) < 0) return err;
    if ((err = snd_mixer_selem_register(mixer_, nullptr, nullptr)) < 0) return err;
    *what = "cannot load the mixer of card " + std::to_string(card_);
    if ((err = snd_mixer_load(mixer_)) < 0) return err;
    *what = "cannot read the id of card " + std::to_string(card_);
    snd_hctl_t* hctl = nullptr;
    if ((err = snd_mixer_get_hctl(mixer_, device_.c_str(), &hctl)) < 0) return err;
    snd_ctl_card_info_t* info;
    snd_ctl_card_info_alloca(&info);
    if ((err = snd_ctl_card_info(snd_hctl_ctl(hctl), info)) < 0) return err;
    id_ = snd_ctl_card_info_get_id(info);
    return 0;
  }

  const std::string& id() const { return id_; }
  std::string Describe() const { return "card " + std::to_string(card_) + " (" + id_ + ")"; }

  // Index 0 of `name`, or null.
  snd_mixer_elem_t* Find(const std::string& name) const {
    if (name.size() > kMaxElementName) return nullptr;
    snd_mixer_selem_id_t* id;
    snd_mixer_selem_id_alloca(&id);
    snd_mixer_selem_id_set_name(id, name.c_str());
    snd_mixer_selem_id_set_index(id, 0);
    return snd_mixer_find_selem(mixer_, id);
  }

  // What could be chosen instead, for an error message.
  std::string PlaybackVolumes() const {
    std::string names;
    for (snd_mixer_elem_t* elem = snd_mixer_first_elem(mixer_); elem != nullptr; elem = snd_mixer_elem_next(elem)) {
      if (snd_mixer_selem_get_index(elem) != 0 || !snd_mixer_selem_has_playback_volume(elem)) continue;
      if (!names.empty()) names += ", ";
      names += snd_mixer_selem_get_name(elem);
    }
    return names.empty() ? "it has no element with a playback volume"
                         : "its elements with a playback volume: " + names;
  }

 private:
  int card_;
  std::string device_;
  std::string id_;
  snd_mixer_t* mixer_ = nullptr;
};

std::string Describe(const CardMixer& mixer, const std::string& element) {
  return "mixer element \"" + element + "\" of " + mixer.Describe();
}

// `wanted`, or the first of kDefaultMixerElements, if it has a playback
// volume; otherwise null with E_MIXER_ELEMENT.
snd_mixer_elem_t* FindElement(const CardMixer& mixer, const std::string& wanted, DeviceError* error) {
  if (wanted.empty()) {
    std::string tried;
    for (const char* name : kDefaultMixerElements) {
      snd_mixer_elem_t* elem = mixer.Find(name);
      if (elem != nullptr && snd_mixer_selem_has_playback_volume(elem)) return elem;
      tried += std::string(tried.empty() ? "" : ", ") + name;
    }
    SetError(error, "E_MIXER_ELEMENT",
             mixer.Describe() + " has none of " + tried + " with a playback volume; " + mixer.PlaybackVolumes());
    return nullptr;
  }
  snd_mixer_elem_t* elem = mixer.Find(wanted);
  if (elem == nullptr) {
    SetError(error, "E_MIXER_ELEMENT",
             mixer.Describe() + " has no mixer element \"" + wanted + "\"; " + mixer.PlaybackVolumes());
    return nullptr;
  }
  if (!snd_mixer_selem_has_playback_volume(elem)) {
    SetError(error, "E_MIXER_ELEMENT", Describe(mixer, wanted) + " has no playback volume; " + mixer.PlaybackVolumes());
    return nullptr;
  }
  return elem;
}

// Opens the target's card again and finds its element: E_MIXER_LOST when
// the card is gone or another card has taken its index.
snd_mixer_elem_t* FindTarget(CardMixer* mixer, const MixerTarget& target, DeviceError* error) {
  std::string what;
  const int err = mixer->Open(&what);
  if (err < 0) {
    SetAlsaError(error, CardGone(err) ? "E_MIXER_LOST" : "E_MIXER_OPEN", err, what + " (" + target.card_id + ")");
    return nullptr;
  }
  if (mixer->id() != target.card_id) {
    SetError(error, "E_MIXER_LOST", "card " + std::to_string(target.card) + " is \"" + mixer->id() + "\" now, not \"" +
                                        target.card_id + "\"");
    return nullptr;
  }
  return FindElement(*mixer, target.element, error);
}

bool ReadElement(const CardMixer& mixer, snd_mixer_elem_t* elem, VolumeState* state, DeviceError* error) {
  state->target.element = snd_mixer_selem_get_name(elem);
  const std::string element = Describe(mixer, state->target.element);
  // alsa-lib counts dB in hundredths.
  long min = 0;
  long max = 0;
  if (snd_mixer_selem_get_playback_dB_range(elem, &min, &max) < 0) {
    SetError(error, "E_MIXER_NO_DB", element + " has no dB scale (its driver gives no dB information)");
    return false;
  }
  if (min <= SND_CTL_TLV_DB_GAIN_MUTE) {
    long lowest = 0;
    long highest = 0;
    snd_mixer_selem_get_playback_volume_range(elem, &lowest, &highest);
    if (lowest >= highest || snd_mixer_selem_ask_playback_vol_dB(elem, lowest + 1, &min) < 0) {
      SetError(error, "E_MIXER_NO_DB", element + " has no step with a dB figure but mute");
      return false;
    }
  }
  state->min_db = min / 100.0;
  state->max_db = max / 100.0;
  state->has_switch = snd_mixer_selem_has_playback_switch(elem) != 0;
  state->db_known = false;
  bool any_on = false;
  for (int c = 0; c <= SND_MIXER_SCHN_LAST; ++c) {
    const auto channel = static_cast<snd_mixer_selem_channel_id_t>(c);
    if (!snd_mixer_selem_has_playback_channel(elem, channel)) continue;
    long db = 0;
    int err = snd_mixer_selem_get_playback_dB(elem, channel, &db);
    if (err < 0) {
      SetAlsaError(error, "E_MIXER_IO", err, "cannot read the level of " + element);
      return false;
    }
    if (db > SND_CTL_TLV_DB_GAIN_MUTE && (!state->db_known || db / 100.0 > state->db)) {
      state->db = db / 100.0;
      state->db_known = true;
    }
    int on = 1;
    if (state->has_switch && (err = snd_mixer_selem_get_playback_switch(elem, channel, &on)) < 0) {
      SetAlsaError(error, "E_MIXER_IO", err, "cannot read the switch of " + element);
      return false;
    }
    any_on = any_on || on != 0;
  }
  state->muted = state->has_switch && !any_on;
  return true;
}

bool Apply(const CardMixer& mixer, snd_mixer_elem_t* elem, const VolumeState& now, const VolumeChange& change,
           DeviceError* error) {
  const std::string element = Describe(mixer, now.target.element);
  auto failed = [&](int err, const std::string& what) {
    SetAlsaError(error, CardGone(err) ? "E_MIXER_LOST" : "E_MIXER_IO", err, "cannot " + what + " of " + element);
    return false;
  };
  // A mute goes before a new level and an unmute after it: the level never
  // changes audibly on its way to being muted, and sound comes back at the
  // new level, not the old.
  if (change.set_muted && change.muted) {
    const int err = snd_mixer_selem_set_playback_switch_all(elem, 0);
    if (err < 0) return failed(err, "mute the switch");
  }
  if (change.set_db) {
    const double db = std::clamp(change.db, now.min_db, now.max_db);
    // dir 0: the nearest step. alsa-lib puts a level between two steps on
    // the closer one, a tie on the louder (dB-scale and min-max TLVs; on a
    // linear one lrint's tie to even).
    const int err = snd_mixer_selem_set_playback_dB_all(elem, std::lround(db * 100), 0);
    if (err < 0) return failed(err, "set the level");
  }
  if (change.set_muted && !change.muted && now.has_switch) {
    const int err = snd_mixer_selem_set_playback_switch_all(elem, 1);
    if (err < 0) return failed(err, "unmute the switch");
  }
  return true;
}

}  // namespace

bool OpenHardwareVolume(int card, const std::string& element, VolumeState* state, DeviceError* error) {
  CardMixer mixer(card);
  std::string what;
  const int err = mixer.Open(&what);
  if (err < 0) {
    SetAlsaError(error, "E_MIXER_OPEN", err, what);
    return false;
  }
  snd_mixer_elem_t* elem = FindElement(mixer, element, error);
  if (elem == nullptr) return false;
  state->target.card = card;
  state->target.card_id = mixer.id();
  return ReadElement(mixer, elem, state, error);
}

bool ReadHardwareVolume(const MixerTarget& target, VolumeState* state, DeviceError* error) {
  CardMixer mixer(target.card);
  snd_mixer_elem_t* elem = FindTarget(&mixer, target, error);
  if (elem == nullptr) return false;
  state->target = target;
  return ReadElement(mixer, elem, state, error);
}

bool ChangeHardwareVolume(const MixerTarget& target, const VolumeChange& change, VolumeState* state,
                          DeviceError* error) {
  {
    CardMixer mixer(target.card);
    snd_mixer_elem_t* elem = FindTarget(&mixer, target, error);
    if (elem == nullptr) return false;
    VolumeState now;
    now.target = target;
    if (!ReadElement(mixer, elem, &now, error)) return false;
    if (change.set_muted && change.muted && !now.has_switch) {
      SetError(error, "E_MIXER_NO_SWITCH", Describe(mixer, target.element) + " has no playback switch to mute");
      return false;
    }
    if (!Apply(mixer, elem, now, change, error)) return false;
  }
  // What the driver holds now, from a fresh open: a driver may store another
  // value than the one written.
  return ReadHardwareVolume(target, state, error);
}

}  // namespace speakerd
