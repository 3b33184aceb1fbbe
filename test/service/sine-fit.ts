// How close a recording is to a pure sine: the measure of resampled output.

/** Fits a sine of `frequency` to `samples` (least squares) and returns its SNR in dB. */
export function sineSnrDb(samples: Float64Array, frequency: number, rate: number): number {
  let ss = 0, sc = 0, cc = 0, ys = 0, yc = 0;
  for (let i = 0; i < samples.length; i++) {
    const s = Math.sin((2 * Math.PI * frequency * i) / rate);
    const c = Math.cos((2 * Math.PI * frequency * i) / rate);
    ss += s * s; sc += s * c; cc += c * c; ys += samples[i]! * s; yc += samples[i]! * c;
  }
  const det = ss * cc - sc * sc;
  const a = (ys * cc - yc * sc) / det;
  const b = (yc * ss - ys * sc) / det;
  let signalPower = 0;
  let noisePower = 0;
  for (let i = 0; i < samples.length; i++) {
    const fit = a * Math.sin((2 * Math.PI * frequency * i) / rate) + b * Math.cos((2 * Math.PI * frequency * i) / rate);
    signalPower += fit * fit;
    noisePower += (samples[i]! - fit) ** 2;
  }
  return 10 * Math.log10(signalPower / noisePower);
}
