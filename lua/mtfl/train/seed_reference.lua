-- mtfl.train.seed_reference: the published numbers the results are compared with,
-- from the seed report's Figure 2 and text (see ../shared/docs/seed-study.md), and
-- TCDCN's mean error on the same 2,995 AFLW faces.
return {
  -- test accuracy per landmark (1 - failure rate at 10% of the inter-ocular distance):
  -- mean of five, then left eye, right eye, nose, left mouth, right mouth
  landmark_accuracy = {
    single_task_landmarks = {mean = 0.19, points = {0.16, 0.15, 0.23, 0.20, 0.23}},
    multitask = {mean = 0.19, points = {0.16, 0.15, 0.22, 0.21, 0.22}},
    multitask_early_stopping = {mean = 0.20, points = {0.16, 0.15, 0.22, 0.21, 0.22}},
    multitask_augmentation = {mean = 0.24, points = {0.22, 0.20, 0.24, 0.26, 0.26}},
  },
  -- attribute accuracy: no better than the majority class
  attributes = {pose = "0.62", glasses = "0.89-0.92"},
  -- early stopping halted these after so many epochs on average
  stop_epochs = {glasses = 11.3, pose = 15.5},
  -- TCDCN (Zhang et al., ECCV 2014): mean error on the AFLW test faces
  tcdcn_mean_error = 0.08,
}
