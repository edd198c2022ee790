// an npm-style package: found through package.json "main", with a JSON
// data file and a helper that throws
const codes = require("../codes.json");
exports.country = (code) => codes[code] || "unknown";
exports.strict = (code) => {
  if (!(code in codes)) throw new Error("no country " + code);
  return codes[code];
};
