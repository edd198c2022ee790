const { repeatChar } = require("../../../util/chars.js");
exports.two = (n) => (n < 10 ? repeatChar("0", 1) : "") + n;
