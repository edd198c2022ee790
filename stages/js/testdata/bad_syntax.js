function transform(rec, meta) {
  if (rec === "x") {
    return rec;
  
