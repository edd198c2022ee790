package engine

// accountNotProcessed completes the counts of an ended run (the input, the
// stages in order, the output) so that for each,
// In = Passed + Dropped + Errors + NotProcessed. A stage that stopped
// mid-batch counted the whole batch in; a batch discarded in a queue when
// the run stopped was counted out by the stage before and in by none. With
// one version of the stages (no reload), the records a stage was handed
// are the Out of the one before: those it never took count in, and not
// processed. After reloads the stages of the versions differ, and only the
// records that entered a stage are counted.
func accountNotProcessed(stats []StageStats, chained bool) {
	for i := range stats {
		st := &stats[i]
		if chained && i > 0 && stats[i-1].Out > st.In {
			st.In = stats[i-1].Out
		}
		st.NotProcessed = max(0, st.In-st.Passed-st.Dropped-st.Errors)
	}
}
