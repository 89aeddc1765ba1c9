/* pecsync intake page: the robot check, run in the member's browser without any outside
   service.  Finds a number n such that SHA-256("<challenge>:<n>") starts with the number of
   zero bits the server asks for (data-pow-bits), and sends the form no sooner than
   data-min-fill-ms after the page was shown.  No inline code: the page's CSP forbids it. */
(function () {
  "use strict";
  var K = [0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2];
  var W = new Array(64);

  /* SHA-256 of an ASCII string; returns the first 32-bit word (enough for up to 32 bits). */
  function sha256FirstWord(text) {
    var bytes = [], i, j;
    for (i = 0; i < text.length; i++) { bytes.push(text.charCodeAt(i) & 0xff); }
    var bitLen = bytes.length * 8;
    bytes.push(0x80);
    while (bytes.length % 64 !== 56) { bytes.push(0); }
    for (i = 7; i >= 0; i--) { bytes.push(i > 3 ? 0 : (bitLen >>> (i * 8)) & 0xff); }
    var h0 = 0x6a09e667, h1 = 0xbb67ae85, h2 = 0x3c6ef372, h3 = 0xa54ff53a,
      h4 = 0x510e527f, h5 = 0x9b05688c, h6 = 0x1f83d9ab, h7 = 0x5be0cd19;
    for (var off = 0; off < bytes.length; off += 64) {
      for (j = 0; j < 16; j++) {
        W[j] = (bytes[off + 4 * j] << 24) | (bytes[off + 4 * j + 1] << 16) |
          (bytes[off + 4 * j + 2] << 8) | bytes[off + 4 * j + 3];
      }
      for (j = 16; j < 64; j++) {
        var x = W[j - 15], y = W[j - 2];
        var s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
        var s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
        W[j] = (W[j - 16] + s0 + W[j - 7] + s1) | 0;
      }
      var a = h0, b = h1, c = h2, d = h3, e = h4, f = h5, g = h6, h = h7;
      for (j = 0; j < 64; j++) {
        var S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
        var ch = (e & f) ^ (~e & g);
        var t1 = (h + S1 + ch + K[j] + W[j]) | 0;
        var S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
        var maj = (a & b) ^ (a & c) ^ (b & c);
        var t2 = (S0 + maj) | 0;
        h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
      }
      h0 = (h0 + a) | 0; h1 = (h1 + b) | 0; h2 = (h2 + c) | 0; h3 = (h3 + d) | 0;
      h4 = (h4 + e) | 0; h5 = (h5 + f) | 0; h6 = (h6 + g) | 0; h7 = (h7 + h) | 0;
    }
    return h0 >>> 0;
  }

  function solve(challenge, bits, done) {
    var limit = bits >= 32 ? 0 : Math.pow(2, 32 - bits);
    var n = 0;
    function chunk() {
      var until = n + 2000;
      for (; n < until; n++) {
        if (bits <= 0 || sha256FirstWord(challenge + ":" + n) < limit) { done(String(n)); return; }
      }
      setTimeout(chunk, 0);
    }
    chunk();
  }

  var form = document.getElementById("intake");
  if (!form) { return; }
  var shown = Date.now();
  var minFill = parseInt(form.getAttribute("data-min-fill-ms") || "0", 10);
  var bits = parseInt(form.getAttribute("data-pow-bits") || "0", 10);
  var challenge = form.elements.challenge.value;
  var answer = null, sending = false;
  solve(challenge, bits, function (found) { answer = found; });

  form.addEventListener("submit", function (event) {
    if (form.getAttribute("data-ready") === "1") { return; }
    event.preventDefault();
    if (sending) { return; }
    sending = true;
    var button = document.getElementById("send");
    if (button) { button.disabled = true; button.textContent = form.getAttribute("data-checking"); }
    (function wait() {
      if (answer === null || Date.now() - shown < minFill) { setTimeout(wait, 50); return; }
      form.elements.pow.value = answer;
      form.setAttribute("data-ready", "1");
      form.submit();
    })();
  });
}());
