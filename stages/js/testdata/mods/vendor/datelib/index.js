// a vendored library whose modules require each other by relative paths,
// as npm packages do
const pad = require("./internal/pad");
exports.ymd = (y, m, d) => [y, pad.two(m), pad.two(d)].join("-");
