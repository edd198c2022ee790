// a CommonJS module a stage can require when it lists testdata/mods in modules:
exports.shout = (s) => s.toUpperCase() + "!";
