function transform(rec, meta)
  if rec == "x" then
    return rec
  -- missing end
end
