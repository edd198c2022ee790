exports.repeatChar = (c, n) => c.repeat(n);
